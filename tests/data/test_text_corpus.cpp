// tokenize_corpus (`uoe tokenize`): JSONL corpora and QA sets into token datasets, with the
// tokenizer's own ids and the answer-only loss mask, and errors that name file and line.
#include <unistd.h>

#include <fstream>

#include "data/text_corpus.h"
#include "data/token_dataset.h"
#include "test_utils.h"
#include "tokenizer/hf_tokenizer.h"

namespace uoe {
namespace {

std::string fixture(const std::string& name) {
  return std::string(UOE_TOKENIZER_FIXTURES) + "/" + name;
}

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path =
      testing::TempDir() + "uoe_corpus_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<int32_t> masked(const TokenSequence& s, uint8_t value) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < s.tokens.size(); ++i) {
    if (s.loss_mask[i] == value) out.push_back(s.tokens[i]);
  }
  return out;
}

TEST(TextCorpus, JsonlDocumentsAreEncodedWithSpecialTokensAndChunked) {
  TokenizeOptions options;
  options.tokenizer = fixture("llama3_style.json");  // "<|begin_of_text|> $A"
  options.input = write_temp("docs.jsonl",
                             "{\"text\": \"Hello world, this is a test.\", \"id\": 1}\n\n"
                             "{\"text\": \"中文分词 2024\"}\r\n");
  const HfTokenizer tokenizer = HfTokenizer::load(options.tokenizer);
  const std::string out = write_temp("docs.h5", "");
  const TokenizeSummary summary = tokenize_corpus(options, out);
  TokenDataset data(out);
  ASSERT_EQ(data.size(), 2);
  EXPECT_EQ(summary.num_records, 2);
  EXPECT_EQ(data.vocab_size(), tokenizer.vocab_size());
  EXPECT_EQ(data.get(0).tokens, tokenizer.encode("Hello world, this is a test.", true));
  EXPECT_EQ(data.get(1).tokens, tokenizer.encode("中文分词 2024", true));
  EXPECT_EQ(masked(data.get(1), 0).size(), 0u);

  options.max_length = 4;  // chunks of at most 4 tokens, <|begin_of_text|> only on the first
  const TokenizeSummary chunked = tokenize_corpus(options, out);
  TokenDataset chunks(out);
  std::vector<int32_t> joined;
  for (int64_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks.length(i), 4);
    const auto t = chunks.get(i).tokens;
    joined.insert(joined.end(), t.begin(), t.end());
  }
  auto both = tokenizer.encode("Hello world, this is a test.", true);
  const auto second = tokenizer.encode("中文分词 2024", true);
  both.insert(both.end(), second.begin(), second.end());
  EXPECT_EQ(joined, both);
  EXPECT_EQ(chunked.num_tokens, int64_t(both.size()));
}

TEST(TextCorpus, QaMasksOnlyTheAnswer) {
  for (const std::string name : {"spm_style.json", "qwen2_style.json"}) {
    TokenizeOptions options;
    options.tokenizer = fixture(name);
    options.format = "qa";
    options.prompt_template = "Question: {question}\nAnswer:";
    options.answer_template = " {answer}";
    options.input =
        write_temp("qa.jsonl",
                   "{\"question\": \"Where was Velmora born?\", \"answer\": \"in Astrel\"}\n"
                   "{\"question\": \"When?\", \"answer\": \"1871\"}\n");
    const std::string out = write_temp("qa.h5", "");
    tokenize_corpus(options, out);
    const HfTokenizer tokenizer = HfTokenizer::load(options.tokenizer);
    TokenDataset data(out);
    ASSERT_EQ(data.size(), 2);
    const TokenSequence first = data.get(0);
    EXPECT_EQ(first.tokens,
              tokenizer.encode("Question: Where was Velmora born?\nAnswer: in Astrel", true));
    // A SentencePiece-style decoder drops the space of the first token it decodes.
    auto answer = [&](const TokenSequence& s) {
      const std::string text = tokenizer.decode(masked(s, 1), true);
      return text[0] == ' ' ? text.substr(1) : text;
    };
    EXPECT_EQ(answer(first), "in Astrel") << name;
    EXPECT_EQ(answer(data.get(1)), "1871") << name;
    EXPECT_EQ(tokenizer.decode(masked(first, 0), true),
              "Question: Where was Velmora born?\nAnswer:")
        << name;
  }
}

TEST(TextCorpus, MalformedLinesNameFileAndLine) {
  TokenizeOptions options;
  options.tokenizer = fixture("gpt2_style.json");
  options.input = write_temp("bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"broken\n");
  const std::string out = write_temp("bad.h5", "");
  test::expect_input_error([&] { tokenize_corpus(options, out); },
                           {options.input + ":2", "not a valid JSON line"});
  options.input = write_temp("bad2.jsonl", "{\"body\": \"no text key\"}\n");
  test::expect_input_error([&] { tokenize_corpus(options, out); },
                           {options.input + ":1", "missing key \"text\""});
  options.format = "qa";
  options.input = write_temp("bad3.jsonl", "{\"question\": \"q\", \"answer\": 3}\n");
  test::expect_input_error([&] { tokenize_corpus(options, out); },
                           {options.input + ":1", "\"answer\" must be a string"});
  options.format = "csv";
  test::expect_input_error([&] { options.validate(); }, {"tokenize.format", "csv"});
}

}  // namespace
}  // namespace uoe
