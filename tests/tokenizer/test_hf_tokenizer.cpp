// HfTokenizer against HF tokenizers: the ids and decode strings of tests/tokenizer/data/tokenizers/
// cases.json were recorded by tools/make_tokenizer_fixtures.py with the `tokenizers` package for
// small trained tokenizers configured like GPT-2, GPT-NeoX/OLMo, Qwen2, Llama-3, DeepSeek-V3 and
// a SentencePiece-style BPE, and for the real Mixtral tokenizer (read from the shared data
// directory; skipped when it is absent). random_cases.json holds the same for random multi-script
// texts (tools/make_tokenizer_random_fixtures.py): Unicode 15/16 characters, emoji sequences,
// control, private-use and unassigned code points, combining marks, odd white space.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "expect_input_error.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/unicode_normalization.h"
#include "tokenizer/unicode_properties.h"
#include "tokenizer/unicode_regex.h"
#include "tokenizer/unicode_tables.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// The fixtures: $UOE_TOKENIZER_FIXTURES (e.g. a larger random_cases.json made elsewhere), else
// the directory CMake passed in.
std::string fixture_dir() {
  const char* env = std::getenv("UOE_TOKENIZER_FIXTURES");
  return env ? env : UOE_TOKENIZER_FIXTURES;
}

// The shared Hugging Face files: $UOE_HF_DATA_DIR, else the directory CMake passed in.
std::string hf_data_dir() {
  const char* env = std::getenv("UOE_HF_DATA_DIR");
  return env ? env : UOE_HF_DATA_DIR;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A recorded fixture: {"texts": [...], "tokenizers": {name: {"cases": [...]}}, ...}.
const Json& fixture(const std::string& file) {
  static std::map<std::string, Json> loaded;
  auto it = loaded.find(file);
  if (it == loaded.end()) {
    it = loaded.emplace(file, Json::parse(read_text(fixture_dir() + "/" + file))).first;
  }
  return it->second;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

// Encodes and decodes every text of the fixture `file` with `tokenizer` and compares with HF.
void check_parity(const HfTokenizer& tokenizer, const std::string& name,
                  const std::string& file = "cases.json") {
  const Json& cases = fixture(file);
  const Json& texts = cases["texts"];
  const Json& expected = cases["tokenizers"][name]["cases"];
  ASSERT_EQ(texts.size(), expected.size());
  int matching = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    const Json& want = expected[i];
    const auto ids = tokenizer.encode(text, false);
    const auto ids_special = tokenizer.encode(text, true);
    const std::string decoded = tokenizer.decode(ids_special, false);
    const std::string decoded_skip = tokenizer.decode(ids_special, true);
    const auto want_ids = want["ids"].get<std::vector<int32_t>>();
    const auto want_special = want["ids_special"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids, want_ids) << name << " text " << i << " '" << text << "'\n  uoe " << show(ids)
                             << "\n  hf  " << show(want_ids);
    EXPECT_EQ(ids_special, want_special) << name << " text " << i << " with special tokens";
    EXPECT_EQ(decoded, want["decoded"].get<std::string>()) << name << " decode of text " << i;
    EXPECT_EQ(decoded_skip, want["decoded_skip_special"].get<std::string>())
        << name << " decode (skip special) of text " << i;
    matching += ids == want_ids && ids_special == want_special &&
                decoded == want["decoded"].get<std::string>() &&
                decoded_skip == want["decoded_skip_special"].get<std::string>();
  }
  std::cout << "[ parity   ] " << name << ": " << matching << "/" << texts.size() << " texts of "
            << file << " match HF tokenizers " << cases["tokenizers_version"].get<std::string>()
            << " exactly (ids, ids with special tokens, both decodes)\n";
}

const auto kTrainedStyles = testing::Values("gpt2_style", "neox_style", "qwen2_style",
                                            "llama3_style", "deepseek_v3_style", "spm_style");

class TrainedTokenizerParity : public testing::TestWithParam<std::string> {};

TEST_P(TrainedTokenizerParity, MatchesHfTokenizers) {
  const HfTokenizer tokenizer = HfTokenizer::load(fixture_dir() + "/" + GetParam() + ".json");
  check_parity(tokenizer, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainedTokenizerParity, kTrainedStyles);

// The differential test: random multi-script texts.
class RandomTextParity : public testing::TestWithParam<std::string> {};

TEST_P(RandomTextParity, MatchesHfTokenizers) {
  const HfTokenizer tokenizer = HfTokenizer::load(fixture_dir() + "/" + GetParam() + ".json");
  check_parity(tokenizer, GetParam(), "random_cases.json");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RandomTextParity, kTrainedStyles);

// The real Mixtral tokenizer from the shared data directory; skips when it is absent.
std::optional<HfTokenizer> load_mixtral() {
  const std::string dir = hf_data_dir() + "/Mixtral-8x7B-v0.1";
  if (!fs::exists(dir + "/tokenizer.json")) return std::nullopt;
  return HfTokenizer::load(dir);
}

std::string no_mixtral() {
  return "no " + hf_data_dir() + "/Mixtral-8x7B-v0.1/tokenizer.json (set UOE_HF_DATA_DIR to the " +
         "folder holding Mixtral-8x7B-v0.1/): Mixtral parity not checked";
}

TEST(HfTokenizer, MixtralParity) {
  const auto tokenizer = load_mixtral();
  if (!tokenizer) GTEST_SKIP() << no_mixtral();
  EXPECT_EQ(tokenizer->vocab_size(), 32000);
  EXPECT_EQ(tokenizer->bos_id(), std::optional<int32_t>(1));
  EXPECT_EQ(tokenizer->eos_id(), std::optional<int32_t>(2));
  EXPECT_TRUE(tokenizer->is_special(2));
  check_parity(*tokenizer, "mixtral");
}

TEST(HfTokenizer, MixtralRandomTextParity) {
  const auto tokenizer = load_mixtral();
  if (!tokenizer) GTEST_SKIP() << no_mixtral();
  check_parity(*tokenizer, "mixtral", "random_cases.json");
}

// Splits of a few pre-tokenizer patterns, checked against Oniguruma's behaviour in HF tokenizers.
std::vector<std::string> matches(const std::string& pattern, const std::u32string& text) {
  UnicodeRegex re(pattern, "test");
  std::vector<std::pair<uint32_t, uint32_t>> spans;
  re.find_all(text, spans);
  std::vector<std::string> out;
  for (auto [s, e] : spans) {
    std::string piece;
    for (uint32_t i = s; i < e; ++i) piece += text[i] < 128 ? char(text[i]) : '#';
    out.push_back(piece);
  }
  return out;
}

TEST(UnicodeRegex, OnigurumaSemantics) {
  using V = std::vector<std::string>;
  // \s: TAB..CR, U+0085 and Zs/Zl/Zp, not U+001C or U+200B.
  EXPECT_EQ(matches("\\s", U"a\u00a0b\u3000c\u2028d\u0085e\u001cf\u200bg"),
            V({"#", "#", "#", "#"}));
  EXPECT_EQ(matches("\\s+(?!\\S)|\\s+", U"a   b"), V({"  ", " "}));
  EXPECT_EQ(matches("(?i:'s|'ll)", U"'S 'Ll '\u017f"), V({"'S", "'Ll", "'#"}));
  EXPECT_EQ(matches("\\p{N}{1,3}", U"1234567"), V({"123", "456", "7"}));
  EXPECT_EQ(matches("a$", U"a\nb a"), V({"a", "a"}));
  EXPECT_EQ(matches("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+", U" hello,world"), V({" hello", ",world"}));
  EXPECT_EQ(matches("\\d+?x|\\d", U"12x3"), V({"12x", "3"}));
  EXPECT_EQ(matches("[a-c]++c|b", U"abc"), V({"b"}));  // possessive: no backtracking into a-c
  EXPECT_EQ(matches("\\x{41}\\u0042[\\x43-\\x44]", U"ABD"), V({"ABD"}));
}

TEST(UnicodeRegex, RejectsUnsupportedSyntax) {
  test::expect_input_error([] { UnicodeRegex("(?<=a)b", "tokenizer 'x.json': pre_tokenizer"); },
                           {"tokenizer 'x.json': pre_tokenizer", "lookbehind", "supported:"});
  test::expect_input_error([] { UnicodeRegex("\\p{Han}+", "ctx"); }, {"\\p{Han}"});
  test::expect_input_error([] { UnicodeRegex("(a*)*", "ctx"); }, {"empty"});
  test::expect_input_error([] { UnicodeRegex("[abc", "ctx"); }, {"unterminated"});
  test::expect_input_error([] { UnicodeRegex("\\1", "ctx"); }, {"unsupported escape"});
}

TEST(UnicodeNormalization, MatchesUnicodeExamples) {
  EXPECT_EQ(to_nfc("e\xCC\x81"), "\xC3\xA9");  // e + acute -> é
  EXPECT_EQ(to_nfd("\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(to_nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");      // jamo -> 가
  EXPECT_EQ(to_nfc("\xE1\xBA\x9B\xCC\xA3"), "\xE1\xBA\x9B\xCC\xA3");  // ẛ̣ stays (UAX #15)
  EXPECT_EQ(to_nfd("\xE1\xBA\x9B\xCC\xA3"), "\xC5\xBF\xCC\xA3\xCC\x87");
  EXPECT_EQ(to_nfc("a\xCC\x95\xCC\x80"), "\xC3\xA0\xCC\x95");  // reordered, then composed
}

// The Unicode versions HF tokenizers 0.23.3 uses (docs/tokenizer.md): its Oniguruma classifies
// characters as Unicode 16.0, its normalizers know Unicode 9.0.
TEST(UnicodeTables, VersionsOfHfTokenizers) {
  EXPECT_STREQ(unicode_tables::kCategoryVersion, "16.0.0");
  EXPECT_STREQ(unicode_tables::kNormalizationVersion, "9.0");
  EXPECT_EQ(general_category(0x1F7D9), GeneralCategory::So);  // Unicode 15.0 symbol
  EXPECT_EQ(general_category(0x13876), GeneralCategory::Lo);  // Unicode 16.0 hieroglyph
  EXPECT_EQ(general_category(0x11F58), GeneralCategory::Nd);  // Unicode 15.0 Kawi digit
  EXPECT_EQ(general_category(0x1FAE9), GeneralCategory::So);  // Unicode 16.0 emoji
  EXPECT_EQ(general_category(0x1FAEA), GeneralCategory::Cn);  // unassigned in 16.0
  // Dives Akuru (Unicode 13.0): U+11935 U+11930 composes to U+11938 from 13.0 on, not in HF.
  EXPECT_EQ(to_nfc("\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0"), "\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0");
  EXPECT_EQ(combining_class(0x0897), 0);  // Arabic pepet (16.0, class 230): a starter for HF
  EXPECT_EQ(combining_class(0x0301), 230);
}

// A minimal valid tokenizer.json with `patch` merged in.
std::string tiny_json(const Json& patch) {
  Json spec = Json::parse(R"({"version": "1.0", "model": {"type": "BPE",
      "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})");
  if (patch.is_object()) spec.merge_patch(patch);
  return spec.dump();
}

TEST(HfTokenizer, EncodesBothMergeFormats) {
  const auto strings = HfTokenizer::from_json(tiny_json({}), "tiny.json");
  const auto arrays = HfTokenizer::from_json(
      tiny_json({{"model", {{"merges", Json::array({Json::array({"a", "b"})})}}}}), "tiny.json");
  EXPECT_EQ(strings.encode("abab", false), std::vector<int32_t>({2, 2}));
  EXPECT_EQ(arrays.encode("aba", false), std::vector<int32_t>({2, 0}));
  EXPECT_EQ(arrays.decode({2, 0}, false), "ab a");  // no decoder: tokens joined by spaces
}

TEST(HfTokenizer, RejectsMalformedFiles) {
  test::expect_input_error([] { HfTokenizer::from_json("{not json", "bad.json"); },
                           {"bad.json", "not valid JSON"});
  test::expect_input_error([] { HfTokenizer::from_json("{\"version\": \"1.0\"}", "bad.json"); },
                           {"bad.json", "missing \"model\""});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(tiny_json({{"model", {{"merges", Json::array({"a c"})}}}}),
                               "bad.json");
      },
      {"bad.json", "merge 0", "'c'", "not in the vocab"});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(tiny_json({{"model", {{"vocab", {{"c", "x"}}}}}}), "bad.json");
      },
      {"bad.json", "must be an integer"});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(tiny_json({{"model", {{"vocab", {{"c", 1}}}}}}), "bad.json");
      },
      {"bad.json", "vocab id 1 is used by both"});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(tiny_json({{"model", {{"type", "WordPiece"}}}}), "bad.json");
      },
      {"bad.json", "model", "unsupported model type 'WordPiece'", "supported: BPE"});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(tiny_json({{"normalizer", {{"type", "NFKC"}}}}), "bad.json");
      },
      {"bad.json", "normalizer", "'NFKC'", "NFC"});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(tiny_json({{"pre_tokenizer",
                                           {{"type", "Split"},
                                            {"pattern", {{"Regex", "(?<!a)b"}}},
                                            {"behavior", "Isolated"}}}}),
                               "bad.json");
      },
      {"bad.json", "pre_tokenizer", "(?<!a)b", "lookbehind"});
  test::expect_input_error(
      [] {
        HfTokenizer::from_json(
            tiny_json({{"added_tokens", Json::array({{{"id", 7}, {"content", "<s>"}},
                                                     {{"id", 7}, {"content", "</s>"}}})}}),
            "bad.json");
      },
      {"bad.json", "added_tokens[1]", "id 7 is used by both"});
  test::expect_input_error(  // ids 3 and 4 lie below vocab_size (6) but name no token
      [] {
        HfTokenizer::from_json(tiny_json({{"model", {{"vocab", {{"z", 5}}}}},
                                          {"post_processor",
                                           {{"type", "BertProcessing"},
                                            {"cls", Json::array({"<s>", 3})},
                                            {"sep", Json::array({"</s>", 4})}}}}),
                               "bad.json");
      },
      {"bad.json", "post_processor adds token id 3", "not in the vocabulary"});
  const auto tiny = HfTokenizer::from_json(tiny_json({}), "tiny.json");
  test::expect_input_error([&] { tiny.decode({5}, false); }, {"tiny.json", "token id 5"});
  test::expect_input_error([&] { tiny.encode("a\xFF", false); }, {"not valid UTF-8"});
}

// What a fuzzer does first: damaged files must load or fail with an InputError, never crash or
// throw anything else, and a loaded tokenizer must encode and decode without crashing.
TEST(HfTokenizer, DamagedFilesFailCleanly) {
  const std::string original = read_text(fixture_dir() + "/neox_style.json");
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,0123456789-a \\u";
  int loaded = 0, rejected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string damaged = original;
    if (trial % 4 == 0) {
      damaged.resize(rng() % original.size());
    } else {
      for (int k = 0; k < 1 + trial % 3; ++k)
        damaged[rng() % damaged.size()] = alphabet[rng() % alphabet.size()];
    }
    try {
      const HfTokenizer t = HfTokenizer::from_json(damaged, "damaged.json");
      ++loaded;
      try {
        const auto ids = t.encode("Hello <mask> world 123 [NOTE] caf\u00e9 \u4e2d\u6587", true);
        t.decode(ids, false);
      } catch (const InputError&) {
      }
    } catch (const InputError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
  std::cout << "[ damaged  ] " << loaded << " loaded, " << rejected
            << " rejected with InputError\n";
}

}  // namespace
}  // namespace uoe
