#include "tokenizer/text_tokenizer.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/check.h"
#include "common/files.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/word_tokenizer.h"

namespace uoe {
namespace {

class HfTextTokenizer final : public TextTokenizer {
 public:
  HfTextTokenizer(const std::string& path, HfTokenizer tokenizer)
      : TextTokenizer(path), tokenizer_(std::move(tokenizer)) {}
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const override {
    return tokenizer_.encode(text, add_special_tokens);
  }
  std::string token_text(int32_t id) const override {
    return tokenizer_.decode({id}, /*skip_special_tokens=*/false);
  }
  int64_t vocab_size() const override { return tokenizer_.vocab_size(); }
  std::optional<int32_t> bos_id() const override { return tokenizer_.bos_id(); }
  std::optional<int32_t> eos_id() const override { return tokenizer_.eos_id(); }
  std::optional<int32_t> unk_id() const override { return tokenizer_.unk_id(); }
  bool is_word_vocabulary() const override { return false; }

 private:
  HfTokenizer tokenizer_;
};

class WordTextTokenizer final : public TextTokenizer {
 public:
  WordTextTokenizer(const std::string& path, WordTokenizer tokenizer)
      : TextTokenizer(path), tokenizer_(std::move(tokenizer)) {}
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const override {
    std::vector<int32_t> ids;
    if (add_special_tokens) ids.push_back(WordTokenizer::kBos);
    for (int32_t id : tokenizer_.encode(text)) ids.push_back(id);
    return ids;
  }
  std::string token_text(int32_t id) const override { return tokenizer_.token(id); }
  int64_t vocab_size() const override { return tokenizer_.vocab_size(); }
  std::optional<int32_t> bos_id() const override { return WordTokenizer::kBos; }
  std::optional<int32_t> eos_id() const override { return WordTokenizer::kEos; }
  std::optional<int32_t> unk_id() const override { return WordTokenizer::kUnk; }
  bool is_word_vocabulary() const override { return true; }

 private:
  WordTokenizer tokenizer_;
};

// A word vocabulary is an object with a "tokens" array and no BPE "model".
bool is_word_vocabulary_file(const std::string& path) {
  if (is_dir(path)) return false;
  std::ifstream in(path);
  UOE_CHECK(in.good(), "cannot read '", path, "'");
  const auto root = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return root.is_object() && root.contains("tokens") && !root.contains("model");
}

}  // namespace

std::unique_ptr<TextTokenizer> load_text_tokenizer(const std::string& path,
                                                   const std::string& key) {
  try {
    if (is_word_vocabulary_file(path)) {
      return std::make_unique<WordTextTokenizer>(path, WordTokenizer::load(path));
    }
    return std::make_unique<HfTextTokenizer>(path, HfTokenizer::load(path));
  } catch (const InputError& e) {
    throw InputError(str(key, ": ", e.what()));
  }
}

}  // namespace uoe
