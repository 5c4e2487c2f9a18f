// Fuzzes the tokenizer.json loader and the tokenizer it builds. Input: tokenizer.json, optionally
// followed by a NUL byte and a text to encode, optionally followed by another NUL byte and a
// tokenizer_config.json (NUL cannot occur in valid JSON). The loader, encode and decode may
// reject an input only with InputError; every id encode returns must be inside the vocabulary
// and decode must accept it, and the bos / eos ids must be inside the vocabulary too.
#include <string>
#include <vector>

#include "common/check.h"
#include "fuzz_input.h"
#include "tokenizer/hf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\0' && parts.size() < 3) {
      parts.emplace_back();
    } else {
      parts.back().push_back(static_cast<char>(data[i]));
    }
  }
  parts.resize(3);
  const std::string& tokenizer_json = parts[0];
  const std::string& text = parts[1];
  const std::string& config_json = parts[2];
  uoe::fuzz::accept_only_input_errors([&] {
    const auto tokenizer =
        uoe::HfTokenizer::from_json(tokenizer_json, "tokenizer.json", config_json);
    const int64_t vocab_size = tokenizer.vocab_size();
    for (const auto id : {tokenizer.bos_id(), tokenizer.eos_id()}) {
      UOE_ASSERT(!id || (*id >= 0 && *id < vocab_size), "bos/eos id outside the vocabulary");
    }
    for (const bool special : {false, true}) {
      const std::vector<int32_t> ids = tokenizer.encode(text, special);
      for (const int32_t id : ids) {
        UOE_ASSERT(id >= 0 && id < vocab_size, "encode returned id ", id, " of ", vocab_size);
      }
      for (const bool skip_special : {false, true}) {
        try {
          tokenizer.decode(ids, skip_special);
        } catch (const uoe::InputError& e) {
          UOE_ASSERT(false, "decode rejected what encode returned: ", e.what());
        }
      }
    }
  });
  return 0;
}
