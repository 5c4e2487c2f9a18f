#pragma once
// The "post_processor" of a tokenizer.json, for single sequences: the special tokens that
// encode(add_special_tokens = true) puts around the text. Supported: TemplateProcessing,
// ByteLevel (ids unchanged), RobertaProcessing, BertProcessing and Sequence of them.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_json.h"

namespace uoe {

class PostProcessor {
 public:
  PostProcessor() = default;  // adds nothing
  // InputError naming `context` for unknown or malformed components.
  PostProcessor(const Json& spec, const std::string& context);

  std::vector<int32_t> apply(const std::vector<int32_t>& ids) const;
  // The ids added before / after the text.
  const std::vector<int32_t>& prefix() const { return prefix_; }
  const std::vector<int32_t>& suffix() const { return suffix_; }

 private:
  void add(const Json& spec, const std::string& context);
  std::vector<int32_t> prefix_, suffix_;
};

}  // namespace uoe
