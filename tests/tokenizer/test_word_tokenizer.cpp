#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "expect_input_error.h"
#include "tokenizer/word_tokenizer.h"

namespace uoe {
namespace {

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "uoe_vocab_" + std::to_string(::getpid()) + "_" + name;
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = temp_path(name);
  std::ofstream(path) << content;
  return path;
}

WordTokenizer small_tokenizer() {
  return WordTokenizer({"<pad>", "<bos>", "<eos>", "<unk>", "where", "is", "Velmora", "?"});
}

TEST(WordTokenizer, EncodeDecodeRoundTrip) {
  const WordTokenizer tokenizer = small_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 8);
  EXPECT_EQ(tokenizer.encode("  where is\tVelmora \n?"), (std::vector<int32_t>{4, 5, 6, 7}));
  EXPECT_EQ(tokenizer.decode({4, 5, 6, 7}), "where is Velmora ?");
  // <pad>, <bos> and <eos> are dropped; <unk> stays visible.
  EXPECT_EQ(tokenizer.decode({WordTokenizer::kBos, 6, WordTokenizer::kUnk, WordTokenizer::kEos,
                              WordTokenizer::kPad}),
            "Velmora <unk>");
  EXPECT_EQ(tokenizer.encode(""), std::vector<int32_t>{});
  EXPECT_EQ(tokenizer.id("Velmora"), 6);
  EXPECT_EQ(tokenizer.id("<eos>"), WordTokenizer::kEos);
}

TEST(WordTokenizer, UnknownWordsMapToUnk) {
  const WordTokenizer tokenizer = small_tokenizer();
  EXPECT_EQ(tokenizer.id("velmora"), WordTokenizer::kUnk);  // case-sensitive
  EXPECT_EQ(tokenizer.encode("where is Zorvath ?"),
            (std::vector<int32_t>{4, 5, WordTokenizer::kUnk, 7}));
  test::expect_input_error([&] { tokenizer.decode({8}); }, {"token id 8", "8 words"});
  test::expect_input_error([&] { tokenizer.decode({-1}); }, {"token id -1"});
}

TEST(WordTokenizer, RejectsBadVocabularies) {
  test::expect_input_error([] { WordTokenizer({"<pad>", "<bos>", "<eos>"}); }, {"<unk>"});
  test::expect_input_error(
      [] {
        WordTokenizer({"<bos>", "<pad>", "<eos>", "<unk>"});
      },
      {"token 0", "<pad>"});
  test::expect_input_error(
      [] {
        WordTokenizer({"<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "a"});
      },
      {"'a'", "twice", "4", "6"});
  test::expect_input_error(
      [] {
        WordTokenizer({"<pad>", "<bos>", "<eos>", "<unk>", "two words"});
      },
      {"token 4", "whitespace"});
  test::expect_input_error(
      [] {
        WordTokenizer({"<pad>", "<bos>", "<eos>", "<unk>", ""});
      },
      {"token 4"});
}

TEST(WordTokenizer, SaveLoadRoundTrip) {
  const WordTokenizer tokenizer = small_tokenizer();
  const std::string path = temp_path("round_trip.json");
  tokenizer.save(path);
  const WordTokenizer loaded = WordTokenizer::load(path);
  ASSERT_EQ(loaded.vocab_size(), tokenizer.vocab_size());
  std::vector<int32_t> all_ids(tokenizer.vocab_size());
  for (int32_t i = 0; i < tokenizer.vocab_size(); ++i) all_ids[i] = i;
  EXPECT_EQ(loaded.decode(all_ids), tokenizer.decode(all_ids));
  EXPECT_EQ(loaded.encode("where is Velmora ?"), tokenizer.encode("where is Velmora ?"));
  // The file is the documented format.
  std::ifstream in(path);
  const nlohmann::json root = nlohmann::json::parse(in);
  EXPECT_EQ(root.at("tokens").get<std::vector<std::string>>().at(6), "Velmora");
}

TEST(WordTokenizer, LoadErrorsNameTheFile) {
  const std::string missing = temp_path("does_not_exist.json");
  test::expect_input_error([&] { WordTokenizer::load(missing); }, {missing});
  const std::string malformed = write_file("malformed.json", "{\"tokens\": [\"<pad>\",");
  test::expect_input_error([&] { WordTokenizer::load(malformed); }, {malformed, "JSON"});
  const std::string no_tokens = write_file("no_tokens.json", "{\"words\": []}");
  test::expect_input_error([&] { WordTokenizer::load(no_tokens); }, {no_tokens, "tokens"});
  const std::string not_string =
      write_file("not_string.json", R"({"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", 7]})");
  test::expect_input_error([&] { WordTokenizer::load(not_string); }, {not_string, "token 4"});
  const std::string duplicate =
      write_file("duplicate.json", R"({"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "x", "x"]})");
  test::expect_input_error([&] { WordTokenizer::load(duplicate); }, {duplicate, "twice"});
  const std::string no_specials = write_file("no_specials.json", R"({"tokens": ["a", "b"]})");
  test::expect_input_error([&] { WordTokenizer::load(no_specials); }, {no_specials, "<pad>"});
}

}  // namespace
}  // namespace uoe
