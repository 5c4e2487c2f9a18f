#include "tokenizer/unicode_properties.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "tokenizer/unicode_tables.h"

namespace uoe {
namespace {

constexpr char32_t kNumCodePoints = 0x110000;

// One byte per code point (1.1 MB), built on first use: O(1) category lookups in the regex and
// pre-tokenizer inner loops.
const std::vector<uint8_t>& category_table() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(kNumCodePoints, static_cast<uint8_t>(GeneralCategory::Cn));
    for (size_t i = 0; i < unicode_tables::kNumCategoryRanges; ++i) {
      const auto& r = unicode_tables::kCategoryRanges[i];
      std::fill(t.begin() + r.first, t.begin() + r.last + 1, r.category);
    }
    return t;
  }();
  return table;
}

constexpr const char* kCategoryNames[kNumGeneralCategories] = {
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
    "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};

struct MajorClass {
  const char* letter;
  const char* long_name;
};
constexpr MajorClass kMajorClasses[] = {{"L", "Letter"},      {"M", "Mark"},   {"N", "Number"},
                                        {"P", "Punctuation"}, {"S", "Symbol"}, {"Z", "Separator"},
                                        {"C", "Other"}};

}  // namespace

GeneralCategory general_category(char32_t cp) {
  if (cp >= kNumCodePoints) return GeneralCategory::Cn;
  return static_cast<GeneralCategory>(category_table()[cp]);
}

CategoryMask category_mask(const char* name) {
  for (int i = 0; i < kNumGeneralCategories; ++i) {
    if (std::strcmp(name, kCategoryNames[i]) == 0) return CategoryMask(1) << i;
  }
  for (const auto& major : kMajorClasses) {
    if (std::strcmp(name, major.letter) != 0 && std::strcmp(name, major.long_name) != 0) continue;
    CategoryMask mask = 0;
    for (int i = 0; i < kNumGeneralCategories; ++i) {
      if (kCategoryNames[i][0] == major.letter[0]) mask |= CategoryMask(1) << i;
    }
    return mask;
  }
  return 0;
}

bool is_white_space(char32_t cp) {
  if (cp >= 0x09 && cp <= 0x0D) return true;
  if (cp == 0x20 || cp == 0x85) return true;
  if (cp < 0xA0) return false;
  return in_categories(cp, category_bit(GeneralCategory::Zs) | category_bit(GeneralCategory::Zl) |
                               category_bit(GeneralCategory::Zp));
}

bool is_word_char(char32_t cp) {
  static const CategoryMask mask = category_mask("L") | category_mask("M") | category_mask("Nd") |
                                   category_mask("Nl") | category_mask("Pc");
  if (in_categories(cp, mask)) return true;
  return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) ||
         (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
         (cp >= 0x1F170 && cp <= 0x1F189);
}

char32_t case_fold(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const auto* begin = unicode_tables::kCaseFolds;
  const auto* end = begin + unicode_tables::kNumCaseFolds;
  const auto* it = std::lower_bound(
      begin, end, cp,
      [](const unicode_tables::CaseFold& f, char32_t c) { return f.code_point < c; });
  return (it != end && it->code_point == cp) ? it->folded : cp;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = unicode_tables::kCombiningRanges;
  const auto* end = begin + unicode_tables::kNumCombiningRanges;
  const auto* it = std::upper_bound(
      begin, end, cp,
      [](char32_t c, const unicode_tables::CombiningRange& r) { return c < r.first; });
  if (it == begin) return 0;
  --it;
  return (cp >= it->first && cp <= it->last) ? it->combining_class : 0;
}

}  // namespace uoe
