#pragma once
// The "added_tokens" of a tokenizer.json (special tokens such as <s>, <|im_start|> and user-added
// tokens): found in the text before the model sees it, with HF tokenizers' rules —
// leftmost-longest non-overlapping matches; `single_word` tokens only between non-word
// characters; `lstrip` / `rstrip` swallow the white space to their left / right; tokens with
// `normalized` = false match the raw text, the others the normalized text.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace uoe {

class TextNormalizer;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// A piece of the input: an added token (id >= 0) or text for the model (id = -1).
struct TextSegment {
  std::string text;
  int32_t id = -1;
  bool at_origin = false;  // starts at offset 0 of the original input
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) gives the matching form of tokens with normalized = true.
  AddedVocabulary(std::vector<AddedToken> tokens, const TextNormalizer* normalizer);

  // Splits `segment` at the added tokens of one kind (normalized or raw-matching) and appends
  // the pieces to `out`; empty text pieces are dropped.
  void split(const TextSegment& segment, bool normalized_tokens,
             std::vector<TextSegment>& out) const;

  const AddedToken* find(int32_t id) const;
  const AddedToken* find(const std::string& content) const;
  // The string decoders see for an added token: its normalized form when it is matched normalized.
  const std::string& decode_form(int32_t id) const;
  int64_t max_id() const;
  bool empty() const { return tokens_.empty(); }

 private:
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;  // index into tokens_ when a token ends here
  };
  struct Trie {
    std::vector<TrieNode> nodes{1};
    bool first_byte[256] = {};
    void insert(const std::string& text, int32_t token);
    // Longest token starting at `pos`: its index, or -1; `length` receives its byte length.
    int32_t longest(std::string_view text, size_t pos, size_t& length) const;
  };

  std::vector<AddedToken> tokens_;
  std::vector<std::string> match_forms_;  // per token: content or its normalized form
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace uoe
