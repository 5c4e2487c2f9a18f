#pragma once
// A whitespace word-level tokenizer for the built-in fictitious-knowledge data. The vocabulary is
// a JSON file {"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", ...]}; id = position in the list.
// Ids 0-3 are always <pad>, <bos>, <eos>, <unk>.
#include <string>
#include <unordered_map>
#include <vector>

namespace uoe {

class WordTokenizer {
 public:
  static constexpr int32_t kPad = 0, kBos = 1, kEos = 2, kUnk = 3;

  explicit WordTokenizer(std::vector<std::string> tokens);
  // Throws InputError naming the file when it is missing or malformed.
  static WordTokenizer load(const std::string& path);
  void save(const std::string& path) const;  // atomic

  // Splits on whitespace; unknown words map to <unk>.
  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;  // skips <pad>/<bos>/<eos>
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int32_t id(const std::string& word) const;   // kUnk when absent
  const std::string& token(int32_t id) const;  // InputError outside the vocabulary

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace uoe
