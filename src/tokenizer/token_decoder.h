#pragma once
// The "decoder" of a tokenizer.json: turns token strings back into text. Supported: ByteLevel,
// ByteFallback, Fuse, Strip, Replace, Metaspace and Sequence of them (HF decode_chain semantics;
// the final strings are concatenated).
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_json.h"

namespace uoe {

class TokenDecoder {
 public:
  virtual ~TokenDecoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a null spec; InputError naming `context` for unknown or malformed components.
std::unique_ptr<TokenDecoder> make_token_decoder(const Json& spec, const std::string& context);

}  // namespace uoe
