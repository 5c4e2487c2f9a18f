// Which Unicode version do Debian's regex libraries classify characters in, and how far is that
// from HF tokenizers? For Oniguruma, PCRE2 and ICU: the code points whose membership in \p{L},
// \p{N}, ... differs from HF's (the JSON of tools/probe_hf_unicode.py --classes-json), and a few
// characters new in Unicode 15 and 16. Developer tool (docs/tokenizer.md), not built by CMake:
//
//   apt-get install libonig-dev libpcre2-dev libicu-dev
//   g++ -O2 -std=c++17 tools/probe_unicode_libraries.cpp -lonig -lpcre2-32 -licui18n -licuuc \
//       -o /tmp/probe_unicode_libraries
//   /tmp/probe_unicode_libraries hf_classes.json
#include <unicode/uchar.h>
#include <unicode/uregex.h>
#include <unicode/uversion.h>
#define ONIG_ESCAPE_UCHAR_COLLISION
#include <oniguruma.h>
#define PCRE2_CODE_UNIT_WIDTH 32
#include <pcre2.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace {

const char* const kClasses[] = {"L",  "N",  "P",  "S",  "M",  "Lu", "Ll",
                                "Lm", "Lo", "Nd", "Cn", "Co", "Cf"};
const char32_t kExamples[] = {0x1F7D9, 0x13876, 0x11F58, 0x1FAE8, 0x1FAE9};

// Whether library `lib` (0 Oniguruma, 1 PCRE2, 2 ICU) matches `pattern` on each code point.
std::set<uint32_t> members(int lib, const std::string& pattern) {
  const std::u32string wide(pattern.begin(), pattern.end());
  regex_t* onig = nullptr;
  pcre2_code* pcre = nullptr;
  pcre2_match_data* data = nullptr;
  URegularExpression* icu = nullptr;
  OnigErrorInfo error;
  UErrorCode status = U_ZERO_ERROR;
  int code;
  PCRE2_SIZE offset;
  if (lib == 0) {
    onig_new(&onig, (const OnigUChar*)wide.data(), (const OnigUChar*)(wide.data() + wide.size()),
             ONIG_OPTION_NONE, ONIG_ENCODING_UTF32_LE, ONIG_SYNTAX_RUBY, &error);
  } else if (lib == 1) {
    pcre = pcre2_compile((PCRE2_SPTR)wide.data(), wide.size(), PCRE2_UTF | PCRE2_UCP, &code,
                         &offset, nullptr);
    data = pcre2_match_data_create(4, nullptr);
  } else {
    icu = uregex_openC(pattern.c_str(), 0, nullptr, &status);
  }
  std::set<uint32_t> out;
  for (char32_t c = 0x20; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    bool match;
    if (lib == 0) {
      const OnigUChar* s = (const OnigUChar*)&c;
      match = onig_match(onig, s, s + 4, s, nullptr, ONIG_OPTION_NONE) > 0;
    } else if (lib == 1) {
      match = pcre2_match(pcre, (PCRE2_SPTR)&c, 1, 0, PCRE2_ANCHORED, data, nullptr) >= 0;
    } else {
      UChar s[2];
      int32_t n = 0;
      U16_APPEND_UNSAFE(s, n, c);
      status = U_ZERO_ERROR;
      uregex_setText(icu, s, n, &status);
      match = uregex_matches(icu, 0, &status);
    }
    if (match) out.insert(c);
  }
  if (onig) onig_free(onig);
  if (pcre) pcre2_code_free(pcre), pcre2_match_data_free(data);
  if (icu) uregex_close(icu);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s hf_classes.json\n", argv[0]);
    return 2;
  }
  const nlohmann::json hf = nlohmann::json::parse(std::ifstream(argv[1]));
  OnigEncoding encodings[] = {ONIG_ENCODING_UTF32_LE};
  onig_initialize(encodings, 1);
  UVersionInfo icu_unicode;
  u_getUnicodeVersion(icu_unicode);
  const std::string names[] = {
      std::string("Oniguruma ") + onig_version(),
      "PCRE2 " + std::to_string(PCRE2_MAJOR) + "." + std::to_string(PCRE2_MINOR),
      "ICU " U_ICU_VERSION " (Unicode " + std::to_string(icu_unicode[0]) + "." +
          std::to_string(icu_unicode[1]) + ")"};
  for (int lib = 0; lib < 3; ++lib) {
    std::printf("%s: code points unlike HF:", names[lib].c_str());
    std::set<uint32_t> letters, numbers, symbols;
    for (const char* name : kClasses) {
      const std::set<uint32_t> ours = members(lib, std::string("\\p{") + name + "}");
      const auto theirs = hf[name].get<std::set<uint32_t>>();
      size_t differ = 0;
      for (uint32_t c : ours) differ += !theirs.count(c);
      for (uint32_t c : theirs) differ += !ours.count(c);
      std::printf(" %s %zu", name, differ);
      if (std::string(name) == "L") letters = ours;
      if (std::string(name) == "N") numbers = ours;
      if (std::string(name) == "S") symbols = ours;
    }
    std::printf("\n ");
    for (char32_t c : kExamples) {
      const char* what = letters.count(c)   ? "L"
                         : numbers.count(c) ? "N"
                         : symbols.count(c) ? "S"
                                            : "-";
      std::printf(" U+%04X %s", unsigned(c), what);
    }
    std::printf("  (HF: U+1F7D9 S, U+13876 L, U+11F58 N, U+1FAE8 S, U+1FAE9 S)\n");
  }
  onig_end();
  return 0;
}
