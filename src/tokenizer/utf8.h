#pragma once
// UTF-8 <-> code points. Strict decoding: overlong forms, surrogates and values above U+10FFFF
// are invalid.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace uoe {

// Byte offset of the first invalid sequence, or std::string::npos when `text` is valid UTF-8.
size_t find_invalid_utf8(std::string_view text);

// Decodes valid UTF-8 (check with find_invalid_utf8 first; invalid bytes decode as U+FFFD).
// `offsets` (optional) receives the byte offset of every code point plus a final text.size().
std::vector<char32_t> decode_utf8(std::string_view text, std::vector<uint32_t>* offsets = nullptr);

void append_utf8(std::string& out, char32_t code_point);
std::string encode_utf8(const std::vector<char32_t>& code_points);

// Rust's String::from_utf8_lossy: every maximal invalid subsequence becomes one U+FFFD (what HF
// tokenizers' byte-level decoder produces for token sequences that end inside a character).
std::string utf8_lossy(std::string_view bytes);

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for invalid lead bytes).
inline size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

}  // namespace uoe
