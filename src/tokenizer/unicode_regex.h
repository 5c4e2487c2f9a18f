#pragma once
// A small backtracking regular-expression engine over Unicode code points for the pre-tokenizer
// patterns of Hugging Face tokenizer.json files (GPT-2, Llama-3, Qwen2, DeepSeek, ...), matching
// the way HF tokenizers' Oniguruma backend matches them: leftmost-first alternation, greedy
// quantifiers with backtracking, Unicode classes.
//
// Supported syntax:
//   literals and escaped punctuation; \t \n \r \f \v \a \e \xHH \x{H...} \uHHHH
//   .  (any code point but \n)   ^ $ (line anchors, as Oniguruma)   \A \z
//   [...] and [^...] with ranges, escapes and the classes below
//   \s \S (White_Space)  \d \D (Nd)  \w \W (word characters)  \h (hex digits)
//   \p{X} \P{X} \p{^X} for general categories X = L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd
//   Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn (and Letter, Mark, Number, ...)
//   (...) (?:...) (?i:...) (?i) (?=...) (?!...) (?>...)  alternation |
//   quantifiers * + ? {n} {n,} {n,m}, lazy (suffix ?) and possessive (suffix +)
// Anything else (lookbehind, backreferences, scripts, POSIX brackets, ...) is rejected.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/unicode_properties.h"

namespace uoe {

class UnicodeRegex {
 public:
  // Throws InputError starting with `context` (the file and component) when `pattern` uses
  // syntax outside the supported subset or is malformed.
  UnicodeRegex(const std::string& pattern, const std::string& context);
  // A pattern that matches `text` literally (HF's {"String": ...} patterns).
  static UnicodeRegex literal(const std::string& text);

  // Start and end (code point indices) of the successive non-overlapping, non-empty matches in
  // `text`, searching left to right like Oniguruma's find_iter. Throws InputError when the
  // backtracking budget (linear in the text length) is exhausted.
  void find_all(std::u32string_view text, std::vector<std::pair<uint32_t, uint32_t>>& out) const;

  const std::string& pattern() const { return pattern_; }

  // One item of a bracket class (or a class escape): a range, category set or class, maybe negated.
  struct ClassItem {
    enum class Kind : uint8_t { kRange, kCategories, kSpace, kWord } kind;
    bool negated = false;
    char32_t lo = 0, hi = 0;
    CategoryMask categories = 0;
  };
  struct CharClass {
    bool negated = false;
    std::vector<ClassItem> items;
    uint64_t ascii[2] = {0, 0};  // precomputed answer for code points < 128
    bool matches(char32_t cp) const;
    bool matches_slow(char32_t cp) const;
  };
  enum class Op : uint8_t {
    kChar,
    kCharFold,
    kClass,
    kAny,
    kSplit,
    kJmp,
    kLineStart,
    kLineEnd,
    kTextStart,
    kTextEnd,
    kLookAhead,
    kAtomic,
    kMatch
  };
  struct Inst {
    Op op;
    bool negated = false;  // kLookAhead: (?!...)
    char32_t c = 0;        // kChar / kCharFold (folded)
    int32_t x = 0, y = 0;  // kSplit: preferred x, then y; kJmp: x; kClass: class x;
                           // kLookAhead / kAtomic: sub-program at x
  };

 private:
  UnicodeRegex() = default;
  using BacktrackStack = std::vector<std::pair<int32_t, uint32_t>>;  // (pc, pos) to resume
  // Runs the program from `pc` at `pos`; the end of the first match in priority order. Uses the
  // top of `stack` and leaves it as it found it.
  bool run(int32_t pc, uint32_t pos, std::u32string_view text, uint32_t& end, int64_t& budget,
           BacktrackStack& stack) const;

  std::string pattern_;
  std::string context_;
  std::vector<Inst> program_;
  std::vector<CharClass> classes_;
  friend class RegexCompiler;
};

}  // namespace uoe
