#pragma once
// A Hugging Face fast tokenizer (tokenizer.json) in C++: byte-level BPE (GPT-2, Qwen2, Llama-3,
// DeepSeek, OLMoE) and SentencePiece-style BPE with byte fallback (Llama, Mixtral). Encoding
// follows HF tokenizers: added tokens are split out first, the rest is normalized,
// pre-tokenized and encoded by the BPE model; add_special_tokens applies the post-processor.
//
// Components (see the headers for the details of each):
//   model           BPE (tokenizer/bpe_model.h)
//   normalizer      NFC NFD Prepend Replace Strip Sequence (tokenizer/text_normalizer.h)
//   pre_tokenizer   ByteLevel Split Digits Metaspace Whitespace WhitespaceSplit Sequence
//                   (tokenizer/pre_tokenizer.h; regexes: tokenizer/unicode_regex.h)
//   post_processor  TemplateProcessing ByteLevel RobertaProcessing BertProcessing Sequence
//   decoder         ByteLevel ByteFallback Fuse Strip Replace Metaspace Sequence
//   added_tokens    (tokenizer/added_vocabulary.h)
// Anything else is an InputError naming the file and the component and listing what is
// supported. The "truncation" and "padding" settings of the file are not applied.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uoe {

class HfTokenizer {
 public:
  // `path`: a tokenizer.json file, or a directory holding tokenizer.json (and, optionally,
  // tokenizer_config.json for the bos/eos tokens). InputError naming the file when it is
  // missing, not JSON, malformed or uses unsupported components.
  static HfTokenizer load(const std::string& path);
  // The same from file contents (the fuzz target); `name` stands for the file in messages and
  // `config_json` is the content of tokenizer_config.json ("" when there is none).
  static HfTokenizer from_json(const std::string& tokenizer_json, const std::string& name,
                               const std::string& config_json = "");

  HfTokenizer(HfTokenizer&&) noexcept;
  HfTokenizer& operator=(HfTokenizer&&) noexcept;
  ~HfTokenizer();

  // `text` must be valid UTF-8 (InputError otherwise).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  // InputError for ids outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;

  int64_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(const std::string& token) const;
  bool is_special(int32_t id) const;
  // From tokenizer_config.json (bos_token / eos_token), else the post-processor's first prefix
  // token for bos.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> unk_id() const;  // the BPE model's unk_token
  const std::string& name() const;
  // The ids that encode(text, true) puts before / after the text's own ids.
  const std::vector<int32_t>& special_prefix() const;
  const std::vector<int32_t>& special_suffix() const;

 private:
  struct Impl;
  explicit HfTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace uoe
