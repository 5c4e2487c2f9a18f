#include "tokenizer/token_decoder.h"

#include <cctype>
#include <cstdlib>

#include "common/check.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/text_normalizer.h"
#include "tokenizer/utf8.h"

namespace uoe {
namespace {

class ByteLevel : public TokenDecoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& token : tokens) bytes += alphabet_to_bytes(token);
    tokens.assign(1, utf8_lossy(bytes));
  }
};

// <0xXX> tokens become bytes; each run of them becomes its text, or one U+FFFD per byte when the
// run is not valid UTF-8.
class ByteFallback : public TokenDecoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_length = 0;
    auto flush = [&] {
      if (run_length == 0) return;
      if (find_invalid_utf8(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run_length; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_length = 0;
    };
    for (auto& token : tokens) {
      int byte = -1;
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
        char* end = nullptr;
        const std::string hex = token.substr(3, 2);
        const long value = std::strtol(hex.c_str(), &end, 16);
        if (end == hex.c_str() + 2 && std::isxdigit(static_cast<unsigned char>(hex[0])))
          byte = int(value);
      }
      if (byte >= 0) {
        run.push_back(static_cast<char>(byte));
        ++run_length;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class Fuse : public TokenDecoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const auto& token : tokens) joined += token;
    tokens.assign(1, joined);
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class Strip : public TokenDecoder {
 public:
  Strip(char32_t content, int64_t start, int64_t stop)
      : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      const std::vector<char32_t> cps = decode_utf8(token);
      size_t begin = 0, end = cps.size();
      while (int64_t(begin) < start_ && begin < end && cps[begin] == content_) ++begin;
      while (int64_t(cps.size() - end) < stop_ && end > begin && cps[end - 1] == content_) --end;
      token = encode_utf8(std::vector<char32_t>(cps.begin() + begin, cps.begin() + end));
    }
  }

 private:
  char32_t content_;
  int64_t start_, stop_;
};

class Replace : public TokenDecoder {
 public:
  Replace(UnicodeRegex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) token = replace_all(pattern_, token, content_);
  }

 private:
  UnicodeRegex pattern_;
  std::string content_;
};

// The replacement character becomes a space, except in the first token (where the pre-tokenizer
// prepended it) unless prepend_scheme is "never".
class Metaspace : public TokenDecoder {
 public:
  Metaspace(std::string replacement, bool drop_in_first)
      : replacement_(std::move(replacement)), drop_in_first_(drop_in_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& token = tokens[i];
      std::string out;
      for (size_t pos = 0; pos < token.size();) {
        if (token.compare(pos, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && drop_in_first_)) out.push_back(' ');
          pos += replacement_.size();
        } else {
          out.push_back(token[pos++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool drop_in_first_;
};

class Sequence : public TokenDecoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<TokenDecoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<TokenDecoder>> steps_;
};

}  // namespace

std::unique_ptr<TokenDecoder> make_token_decoder(const Json& spec, const std::string& context) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_type(spec, context);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    const std::vector<char32_t> content = decode_utf8(json_char(spec, "content", context));
    const int64_t start = json_int(spec, "start", 0, context);
    const int64_t stop = json_int(spec, "stop", 0, context);
    UOE_CHECK(start >= 0 && stop >= 0, context, ": Strip start/stop must be >= 0");
    return std::make_unique<Strip>(content[0], start, stop);
  }
  if (type == "Replace") {
    return std::make_unique<Replace>(replace_pattern(spec, context),
                                     json_string(spec, "content", context));
  }
  if (type == "Metaspace") {
    bool drop = json_bool(spec, "add_prefix_space", true, context);
    if (spec.contains("prepend_scheme") && !spec["prepend_scheme"].is_null()) {
      drop = json_string(spec, "prepend_scheme", context) != "never";
    }
    return std::make_unique<Metaspace>(json_char(spec, "replacement", context), drop);
  }
  if (type == "Sequence") {
    return std::make_unique<Sequence>(
        json_sequence<TokenDecoder>(spec, "decoders", context, make_token_decoder));
  }
  throw_unsupported(
      context, "decoder", type,
      {"ByteLevel", "ByteFallback", "Fuse", "Strip", "Replace", "Metaspace", "Sequence"});
}

}  // namespace uoe
