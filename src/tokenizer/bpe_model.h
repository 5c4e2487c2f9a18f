#pragma once
// The BPE "model" of a tokenizer.json: vocabulary, ranked merges, byte fallback (<0xXX> tokens),
// unknown token (optionally fused), ignore_merges. Encodes one pre-tokenized piece at a time with
// HF tokenizers' merge order (lowest rank first, leftmost on ties) using a priority queue, and
// caches the ids of short pieces.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer_json.h"

namespace uoe {

class BpeModel {
 public:
  // `spec` is the "model" object; InputError naming `context` for unsupported options or
  // malformed content (non-integer or duplicate ids, merges of unknown tokens, ...).
  BpeModel(const Json& spec, const std::string& context);

  // Appends the ids of one piece.
  void encode(std::string_view piece, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_to_id(const std::string& token) const;
  // nullptr when no vocabulary entry has this id.
  const std::string* id_to_token(int32_t id) const;
  int64_t max_id() const { return static_cast<int64_t>(tokens_.size()) - 1; }
  std::optional<int32_t> unk_id() const { return unk_id_; }  // the model's unk_token, if any

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  void merge(std::string_view piece, std::vector<int32_t>& ids) const;
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
  }

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // id -> token
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::unordered_map<char32_t, int32_t> char_ids_;  // single-character tokens
  std::optional<int32_t> unk_id_;
  int32_t byte_ids_[256];  // <0xXX> tokens, -1 when absent
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;

  static constexpr size_t kMaxCachedPiece = 256;  // bytes, as HF
  static constexpr size_t kCacheCapacity = 100000;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace uoe
