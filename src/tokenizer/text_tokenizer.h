#pragma once
// The one tokenizer interface of evaluation: a Hugging Face tokenizer.json
// (tokenizer/hf_tokenizer.h), the model's own, or the word vocabulary of the built-in
// fictitious-facts data (tokenizer/word_tokenizer.h). load_text_tokenizer tells them apart by the
// file's content.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace uoe {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // HF `tokenizer.encode(text, add_special_tokens=...)`: with special tokens, the post-processor's
  // prefix and suffix (the word vocabulary: <bos> before the words). InputError for text that is
  // not valid UTF-8 (HF).
  virtual std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const = 0;
  // The text of one token, special tokens included (HF `decode([id])`).
  virtual std::string token_text(int32_t id) const = 0;
  virtual int64_t vocab_size() const = 0;  // largest id + 1
  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> unk_id() const = 0;
  virtual bool is_word_vocabulary() const = 0;
  const std::string& path() const { return path_; }

 protected:
  explicit TextTokenizer(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

// `path`: an HF tokenizer.json (or a directory holding one, with tokenizer_config.json for the
// bos / eos tokens) or a word vocabulary {"tokens": [...]}. InputError naming `key` and the file
// when it is missing or malformed.
std::unique_ptr<TextTokenizer> load_text_tokenizer(const std::string& path, const std::string& key);

}  // namespace uoe
