#include "tokenizer/byte_level.h"

#include <array>
#include <unordered_map>

#include "tokenizer/utf8.h"

namespace uoe {
namespace {

struct Alphabet {
  std::array<std::string, 256> encoded;  // byte -> UTF-8 of its character
  std::unordered_map<char32_t, unsigned char> decoded;
};

const Alphabet& alphabet() {
  static const Alphabet a = [] {
    Alphabet out;
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? char32_t(b) : next_extra++;
      append_utf8(out.encoded[b], cp);
      out.decoded[cp] = static_cast<unsigned char>(b);
    }
    return out;
  }();
  return a;
}

}  // namespace

std::string bytes_to_alphabet(std::string_view bytes) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += a.encoded[b];
  return out;
}

std::string alphabet_to_bytes(std::string_view token) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(token.size());
  for (char32_t cp : decode_utf8(token)) {
    const auto it = a.decoded.find(cp);
    if (it == a.decoded.end()) return std::string(token);
    out.push_back(static_cast<char>(it->second));
  }
  return out;
}

}  // namespace uoe
