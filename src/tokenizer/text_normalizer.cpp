#include "tokenizer/text_normalizer.h"

#include "common/check.h"
#include "tokenizer/unicode_normalization.h"
#include "tokenizer/unicode_properties.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

class Nfc : public TextNormalizer {
 public:
  std::string normalize(std::string_view text) const override { return to_nfc(text); }
};

class Nfd : public TextNormalizer {
 public:
  std::string normalize(std::string_view text) const override { return to_nfd(text); }
};

class Prepend : public TextNormalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string_view text) const override {
    return text.empty() ? std::string() : prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

class Replace : public TextNormalizer {
 public:
  Replace(UnicodeRegex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string_view text) const override {
    return replace_all(pattern_, text, content_);
  }

 private:
  UnicodeRegex pattern_;
  std::string content_;
};

class Strip : public TextNormalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string normalize(std::string_view text) const override {
    std::vector<uint32_t> offsets;
    const auto cps = decode_utf8(text, &offsets);
    size_t begin = 0, end = cps.size();
    while (left_ && begin < end && is_white_space(cps[begin])) ++begin;
    while (right_ && end > begin && is_white_space(cps[end - 1])) --end;
    return std::string(text.substr(offsets[begin], offsets[end] - offsets[begin]));
  }

 private:
  bool left_, right_;
};

class Sequence : public TextNormalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<TextNormalizer>> steps)
      : steps_(std::move(steps)) {}
  std::string normalize(std::string_view text) const override {
    std::string out(text);
    for (const auto& step : steps_) out = step->normalize(out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<TextNormalizer>> steps_;
};

}  // namespace

UnicodeRegex replace_pattern(const Json& spec, const std::string& context) {
  const Json& pattern = json_member(spec, "pattern", context);
  UOE_CHECK(pattern.is_object() && pattern.size() == 1, context,
            ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, got ", pattern.dump());
  if (pattern.contains("String")) {
    const std::string text = json_string(pattern, "String", context);
    UOE_CHECK(!text.empty(), context, ": empty String pattern");
    UOE_CHECK(find_invalid_utf8(text) == std::string::npos, context,
              ": pattern is not valid UTF-8");
    return UnicodeRegex::literal(text);
  }
  return UnicodeRegex(json_string(pattern, "Regex", context), context);
}

std::string replace_all(const UnicodeRegex& pattern, std::string_view text,
                        const std::string& content) {
  std::vector<uint32_t> offsets;
  const std::vector<char32_t> cps = decode_utf8(text, &offsets);
  std::vector<std::pair<uint32_t, uint32_t>> matches;
  pattern.find_all(std::u32string_view(cps.data(), cps.size()), matches);
  if (matches.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  uint32_t done = 0;
  for (auto [start, end] : matches) {
    out.append(text.substr(done, offsets[start] - done));
    out += content;
    done = offsets[end];
  }
  out.append(text.substr(done));
  return out;
}

std::unique_ptr<TextNormalizer> make_text_normalizer(const Json& spec, const std::string& context) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_type(spec, context);
  if (type == "NFC") return std::make_unique<Nfc>();
  if (type == "NFD") return std::make_unique<Nfd>();
  if (type == "Prepend") return std::make_unique<Prepend>(json_string(spec, "prepend", context));
  if (type == "Replace") {
    return std::make_unique<Replace>(replace_pattern(spec, context),
                                     json_string(spec, "content", context));
  }
  if (type == "Strip") {
    return std::make_unique<Strip>(json_bool(spec, "strip_left", true, context),
                                   json_bool(spec, "strip_right", true, context));
  }
  if (type == "Sequence") {
    return std::make_unique<Sequence>(
        json_sequence<TextNormalizer>(spec, "normalizers", context, make_text_normalizer));
  }
  throw_unsupported(context, "normalizer", type,
                    {"NFC", "NFD", "Prepend", "Replace", "Strip", "Sequence"});
}

}  // namespace uoe
