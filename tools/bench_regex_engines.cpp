// Speed and agreement of uoe's regex engine (tokenizer/unicode_regex.h) and Oniguruma (the engine
// of HF tokenizers; Debian's libonig5) on the pre-tokenizer patterns of GPT-2, Llama-3, Qwen2 and
// DeepSeek-V3 over a JSON-lines corpus ({"text": ...} per line, e.g. the corpus that
// tools/bench_tokenizer.py writes). For each pattern: the documents on which both engines find the
// same matches, and the MB/s of each (uoe: UTF-8 decoding + find_all; Oniguruma: onig_search
// over the UTF-8 text, as HF tokenizers runs it). Developer tool, not built by CMake:
//
//   g++ -O2 -std=c++17 -Isrc tools/bench_regex_engines.cpp build/src/tokenizer/libuoe_tokenizer.a \
//       build/src/common/libuoe_base.a -lonig -o /tmp/bench_regex_engines
//   /tmp/bench_regex_engines corpus.jsonl
#include <oniguruma.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/unicode_regex.h"
#include "tokenizer/utf8.h"

namespace {

using Spans = std::vector<std::pair<uint32_t, uint32_t>>;

const char* const kPatterns[][2] = {
    {"gpt2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"},
    {"llama3", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
               R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"qwen2", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
              R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    {"deepseek_v3", R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+)"
                    R"(|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*)"
                    R"(|\s*[\r\n]+|\s+(?!\S)|\s+)"},
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Oniguruma's matches of `re` in `text`, as code point indices.
Spans onig_matches(regex_t* re, OnigRegion* region, const std::string& text) {
  Spans out;
  const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = begin + text.size();
  const OnigUChar* start = begin;
  uint32_t code_point = 0;
  size_t counted = 0;  // bytes of text whose code points `code_point` counts
  auto index_of = [&](size_t byte) {
    for (; counted < byte; ++code_point) counted += uoe::utf8_length(text[counted]);
    return code_point;
  };
  while (start < end && onig_search(re, begin, end, start, end, region, ONIG_OPTION_NONE) >= 0) {
    const size_t b = region->beg[0], e = region->end[0];
    if (e == b) {
      start = begin + e + uoe::utf8_length(text[e]);
      continue;
    }
    const uint32_t first = index_of(b);
    out.emplace_back(first, index_of(e));
    start = begin + e;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s corpus.jsonl\n", argv[0]);
    return 2;
  }
  std::vector<std::string> docs;
  size_t bytes = 0;
  std::ifstream in(argv[1]);
  for (std::string line; std::getline(in, line);) {
    docs.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
    bytes += docs.back().size();
  }
  OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
  onig_initialize(encodings, 1);
  std::printf("%zu documents, %.2f MB; Oniguruma %s\n", docs.size(), bytes / 1e6, onig_version());
  for (const auto& [name, pattern] : kPatterns) {
    const uoe::UnicodeRegex ours(pattern, name);
    regex_t* onig = nullptr;
    OnigErrorInfo error;
    const auto* p = reinterpret_cast<const OnigUChar*>(pattern);
    if (onig_new(&onig, p, p + std::string(pattern).size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                 ONIG_SYNTAX_RUBY, &error) != ONIG_NORMAL) {
      std::fprintf(stderr, "%s: Oniguruma rejects the pattern\n", name);
      return 1;
    }
    OnigRegion* region = onig_region_new();
    std::vector<Spans> ours_spans(docs.size()), onig_spans(docs.size());
    auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < docs.size(); ++i) {
      const std::vector<char32_t> cps = uoe::decode_utf8(docs[i]);
      ours.find_all(std::u32string_view(cps.data(), cps.size()), ours_spans[i]);
    }
    const double ours_s = seconds_since(start);
    start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < docs.size(); ++i) onig_spans[i] = onig_matches(onig, region, docs[i]);
    const double onig_s = seconds_since(start);
    size_t same = 0;
    for (size_t i = 0; i < docs.size(); ++i) same += ours_spans[i] == onig_spans[i];
    std::printf("%-12s same matches in %zu/%zu documents; uoe %.1f MB/s, Oniguruma %.1f MB/s\n",
                name, same, docs.size(), bytes / 1e6 / ours_s, bytes / 1e6 / onig_s);
    onig_region_free(region, 1);
    onig_free(onig);
  }
  onig_end();
  return 0;
}
