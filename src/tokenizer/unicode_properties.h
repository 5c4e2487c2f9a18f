#pragma once
// Unicode character properties used by the tokenizer (general category, white space, simple case
// folding, canonical combining class), backed by the generated tables of
// tokenizer/unicode_tables.cpp.
#include <cstdint>

namespace uoe {

// Values match the order of CATEGORIES in tools/gen_unicode_tables.py.
enum class GeneralCategory : uint8_t {
  Lu,
  Ll,
  Lt,
  Lm,
  Lo,
  Mn,
  Mc,
  Me,
  Nd,
  Nl,
  No,
  Pc,
  Pd,
  Ps,
  Pe,
  Pi,
  Pf,
  Po,
  Sm,
  Sc,
  Sk,
  So,
  Zs,
  Zl,
  Zp,
  Cc,
  Cf,
  Cs,
  Co,
  Cn
};
constexpr int kNumGeneralCategories = 30;

// A set of general categories as a bit mask (bit i = category i).
using CategoryMask = uint32_t;
constexpr CategoryMask category_bit(GeneralCategory c) { return CategoryMask(1) << int(c); }

GeneralCategory general_category(char32_t cp);

// The mask of a category name: a two-letter name ("Lu") or a major class ("L", "Letter", ...);
// 0 when the name is unknown.
CategoryMask category_mask(const char* name);

inline bool in_categories(char32_t cp, CategoryMask mask) {
  return (mask & category_bit(general_category(cp))) != 0;
}

// The White_Space property: TAB..CR, U+0085 and the separators Zs, Zl, Zp. It is both the regex
// \s of Oniguruma and Rust's char::is_whitespace.
bool is_white_space(char32_t cp);
// Word characters (\w of Oniguruma and of Rust's regex, UTS #18): Alphabetic, marks, decimal
// digits, connector punctuation and the joiners U+200C / U+200D. Alphabetic is approximated by
// L, Nl and the circled / squared Latin letters (So with Other_Alphabetic).
bool is_word_char(char32_t cp);

// Simple case folding (one code point to one code point).
char32_t case_fold(char32_t cp);

// Canonical combining class (0 for starters).
uint8_t combining_class(char32_t cp);

}  // namespace uoe
