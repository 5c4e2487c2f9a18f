#include "tokenizer/unicode_normalization.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "tokenizer/unicode_properties.h"
#include "tokenizer/unicode_tables.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

// Hangul syllables (decomposed and composed arithmetically, UAX #15 / Unicode ch. 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

struct Tables {
  std::unordered_map<char32_t, std::pair<char32_t, char32_t>> decompositions;
  std::unordered_map<uint64_t, char32_t> compositions;  // (first << 32 | second) -> composite
};

const Tables& tables() {
  static const Tables t = [] {
    Tables out;
    for (size_t i = 0; i < unicode_tables::kNumDecompositions; ++i) {
      const auto& d = unicode_tables::kDecompositions[i];
      out.decompositions[d.code_point] = {d.first, d.second};
    }
    for (size_t i = 0; i < unicode_tables::kNumCompositions; ++i) {
      const auto& c = unicode_tables::kCompositions[i];
      out.compositions[(uint64_t(c.first) << 32) | c.second] = c.composite;
    }
    return out;
  }();
  return t;
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto& map = tables().decompositions;
  const auto it = map.find(cp);
  if (it == map.end()) {
    out.push_back(cp);
    return;
  }
  decompose(it->second.first, out);
  if (it->second.second != 0) decompose(it->second.second, out);
}

// Full canonical decomposition followed by the canonical ordering of combining marks.
std::vector<char32_t> canonical_decomposition(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (char32_t cp : decode_utf8(text)) decompose(cp, out);
  for (size_t i = 0; i < out.size();) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && combining_class(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + i, out.begin() + j, [](char32_t a, char32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = j;
  }
  return out;
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& map = tables().compositions;
  const auto it = map.find((uint64_t(a) << 32) | b);
  return it == map.end() ? 0 : it->second;
}

// Below U+0300 every string is already in NFC and NFD form except for the decomposable
// Latin-1 letters (U+00C0 and up), which NFD changes.
bool trivially_normalized(std::string_view text, bool nfd) {
  const unsigned char limit = nfd ? 0xC3 : 0xCC;  // lead bytes of U+00C0 and U+0300
  for (unsigned char c : text) {
    if (c >= limit) return false;
  }
  return true;
}

}  // namespace

std::string to_nfd(std::string_view text) {
  if (trivially_normalized(text, true)) return std::string(text);
  return encode_utf8(canonical_decomposition(text));
}

std::string to_nfc(std::string_view text) {
  if (trivially_normalized(text, false)) return std::string(text);
  std::vector<char32_t> cps = canonical_decomposition(text);
  if (cps.empty()) return {};
  // Canonical composition: each character combines with the last starter unless blocked.
  size_t starter = 0;
  bool have_starter = combining_class(cps[0]) == 0;
  int last_class = have_starter ? 0 : 256;
  size_t write = 1;
  for (size_t i = 1; i < cps.size(); ++i) {
    const char32_t cp = cps[i];
    const int cls = combining_class(cp);
    const bool blocked = write - 1 != starter && (last_class == 0 || last_class >= cls);
    if (have_starter && !blocked) {
      const char32_t composite = compose_pair(cps[starter], cp);
      if (composite != 0) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cls == 0) {
      starter = write;
      have_starter = true;
    }
    last_class = cls;
    cps[write++] = cp;
  }
  cps.resize(write);
  return encode_utf8(cps);
}

}  // namespace uoe
