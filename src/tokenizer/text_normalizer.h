#pragma once
// The "normalizer" of a tokenizer.json: NFC, NFD, Prepend, Replace, Strip and Sequence of them.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer_json.h"
#include "tokenizer/unicode_regex.h"

namespace uoe {

class TextNormalizer {
 public:
  virtual ~TextNormalizer() = default;
  virtual std::string normalize(std::string_view text) const = 0;
};

// nullptr for a null spec; InputError naming `context` for unknown or malformed components.
std::unique_ptr<TextNormalizer> make_text_normalizer(const Json& spec, const std::string& context);

// The pattern of Replace (normalizer and decoder): {"String": s} or {"Regex": r}.
UnicodeRegex replace_pattern(const Json& spec, const std::string& context);
// Every match of `pattern` in `text` replaced by `content`.
std::string replace_all(const UnicodeRegex& pattern, std::string_view text,
                        const std::string& content);

}  // namespace uoe
