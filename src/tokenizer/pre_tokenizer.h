#pragma once
// The "pre_tokenizer" of a tokenizer.json: splits normalized text into the pieces ("words") that
// the BPE model encodes independently. Supported: ByteLevel, Split, Digits, Metaspace,
// Whitespace, WhitespaceSplit and Sequence of them, with HF tokenizers' semantics (each step
// applies to every piece produced by the previous one; empty pieces are dropped).
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer_json.h"

namespace uoe {

struct PreToken {
  std::string text;
  bool at_origin = false;  // starts at offset 0 of the original input (Metaspace "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces.
  virtual void split(std::vector<PreToken>& pieces) const = 0;
};

// nullptr for a null spec; InputError naming `context` for unknown or malformed components.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& spec, const std::string& context);

}  // namespace uoe
