#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "common/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/unicode_regex.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

// What happens to the matches of a Split pattern (HF SplitDelimiterBehavior).
enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& name, const std::string& context) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  throw_unsupported(context, "split behavior", name,
                    {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"});
}

// The GPT-2 regex that ByteLevel applies when use_regex is true.
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// Splits every piece at the matches of a pattern.
class PatternSplitter {
 public:
  PatternSplitter(UnicodeRegex pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void split(const PreToken& piece, std::vector<PreToken>& out) const {
    struct Span {
      uint32_t start, end;  // byte offsets
      bool match;
    };
    std::vector<uint32_t> offsets;
    const std::vector<char32_t> cps = decode_utf8(piece.text, &offsets);
    std::vector<std::pair<uint32_t, uint32_t>> matches;
    pattern_.find_all(std::u32string_view(cps.data(), cps.size()), matches);
    std::vector<Span> spans;
    uint32_t done = 0;
    for (auto [s, e] : matches) {
      if (offsets[s] > done) spans.push_back({done, offsets[s], invert_});
      spans.push_back({offsets[s], offsets[e], !invert_});
      done = offsets[e];
    }
    if (done < piece.text.size()) spans.push_back({done, uint32_t(piece.text.size()), invert_});

    std::vector<Span> kept;
    bool previous_match = false;
    switch (behavior_) {
      case Behavior::kIsolated:
        kept = spans;
        break;
      case Behavior::kRemoved:
        for (const auto& s : spans)
          if (!s.match) kept.push_back(s);
        break;
      case Behavior::kMergedWithPrevious:
        for (const auto& s : spans) {
          if (s.match && !previous_match && !kept.empty())
            kept.back().end = s.end;
          else
            kept.push_back(s);
          previous_match = s.match;
        }
        break;
      case Behavior::kMergedWithNext:
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
          if (it->match && !previous_match && !kept.empty())
            kept.back().start = it->start;
          else
            kept.push_back(*it);
          previous_match = it->match;
        }
        std::reverse(kept.begin(), kept.end());
        break;
      case Behavior::kContiguous:
        for (const auto& s : spans) {
          if (s.match == previous_match && !kept.empty())
            kept.back().end = s.end;
          else
            kept.push_back(s);
          previous_match = s.match;
        }
        break;
    }
    for (const auto& s : kept) {
      if (s.end == s.start) continue;
      out.push_back({piece.text.substr(s.start, s.end - s.start), piece.at_origin && s.start == 0});
    }
  }

 private:
  UnicodeRegex pattern_;
  Behavior behavior_;
  bool invert_;
};

class SplitStep : public PreTokenizer {
 public:
  explicit SplitStep(PatternSplitter splitter) : splitter_(std::move(splitter)) {}
  void split(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    out.reserve(pieces.size());
    for (const auto& piece : pieces) splitter_.split(piece, out);
    pieces = std::move(out);
  }

 private:
  PatternSplitter splitter_;
};

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        splitter_(UnicodeRegex(kGpt2Pattern, "ByteLevel"), Behavior::kIsolated, false),
        use_regex_(use_regex) {}
  void split(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    out.reserve(pieces.size());
    for (auto& piece : pieces) {
      if (add_prefix_space_ && (piece.text.empty() || piece.text[0] != ' ')) {
        piece.text.insert(0, " ");
      }
      if (use_regex_)
        splitter_.split(piece, out);
      else
        out.push_back(std::move(piece));
    }
    for (auto& piece : out) piece.text = bytes_to_alphabet(piece.text);
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_;
  PatternSplitter splitter_;
  bool use_regex_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  Metaspace(const std::string& replacement, Prepend prepend, bool split)
      : replacement_(replacement),
        prepend_(prepend),
        splitter_(UnicodeRegex::literal(replacement), Behavior::kMergedWithNext, false),
        split_(split) {}
  void split(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    out.reserve(pieces.size());
    for (auto& piece : pieces) {
      piece.text = replace_spaces(piece.text);
      const bool starts = piece.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts &&
          (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && piece.at_origin))) {
        piece.text.insert(0, replacement_);
      }
      if (split_)
        splitter_.split(piece, out);
      else if (!piece.text.empty())
        out.push_back(std::move(piece));
    }
    pieces = std::move(out);
  }

 private:
  std::string replace_spaces(const std::string& text) const {
    std::string out;
    out.reserve(text.size() + 8);
    for (char c : text) {
      if (c == ' ')
        out += replacement_;
      else
        out.push_back(c);
    }
    return out;
  }

  std::string replacement_;
  Prepend prepend_;
  PatternSplitter splitter_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void split(std::vector<PreToken>& pieces) const override {
    for (const auto& step : steps_) step->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

std::unique_ptr<PreTokenizer> split_step(const std::string& pattern, Behavior behavior, bool invert,
                                         const std::string& context) {
  return std::make_unique<SplitStep>(
      PatternSplitter(UnicodeRegex(pattern, context), behavior, invert));
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& spec, const std::string& context) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_type(spec, context);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(json_bool(spec, "add_prefix_space", true, context),
                                       json_bool(spec, "use_regex", true, context));
  }
  if (type == "Split") {
    const Json& pattern = json_member(spec, "pattern", context);
    UOE_CHECK(pattern.is_object() && pattern.size() == 1, context,
              ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, got ", pattern.dump());
    const Behavior behavior = parse_behavior(json_string(spec, "behavior", context), context);
    const bool invert = json_bool(spec, "invert", false, context);
    if (pattern.contains("String")) {
      const std::string text = json_string(pattern, "String", context);
      UOE_CHECK(!text.empty() && find_invalid_utf8(text) == std::string::npos, context,
                ": String pattern must be non-empty UTF-8");
      return std::make_unique<SplitStep>(
          PatternSplitter(UnicodeRegex::literal(text), behavior, invert));
    }
    return split_step(json_string(pattern, "Regex", context), behavior, invert, context);
  }
  if (type == "Digits") {
    const bool individual = json_bool(spec, "individual_digits", false, context);
    return split_step("\\p{N}", individual ? Behavior::kIsolated : Behavior::kContiguous, false,
                      context);
  }
  if (type == "Whitespace") return split_step("\\w+|[^\\w\\s]+", Behavior::kRemoved, true, context);
  if (type == "WhitespaceSplit") return split_step("\\s", Behavior::kRemoved, false, context);
  if (type == "Metaspace") {
    const std::string replacement = json_char(spec, "replacement", context);
    Metaspace::Prepend prepend = Metaspace::Prepend::kAlways;
    if (spec.contains("prepend_scheme") && !spec["prepend_scheme"].is_null()) {
      const std::string scheme = json_string(spec, "prepend_scheme", context);
      if (scheme == "always")
        prepend = Metaspace::Prepend::kAlways;
      else if (scheme == "first")
        prepend = Metaspace::Prepend::kFirst;
      else if (scheme == "never")
        prepend = Metaspace::Prepend::kNever;
      else
        throw_unsupported(context, "prepend_scheme", scheme, {"always", "first", "never"});
    }
    if (!json_bool(spec, "add_prefix_space", true, context)) prepend = Metaspace::Prepend::kNever;
    return std::make_unique<Metaspace>(replacement, prepend,
                                       json_bool(spec, "split", true, context));
  }
  if (type == "Sequence") {
    return std::make_unique<Sequence>(
        json_sequence<PreTokenizer>(spec, "pretokenizers", context, make_pre_tokenizer));
  }
  throw_unsupported(
      context, "pre-tokenizer", type,
      {"ByteLevel", "Split", "Digits", "Metaspace", "Whitespace", "WhitespaceSplit", "Sequence"});
}

}  // namespace uoe
