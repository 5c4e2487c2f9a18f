// Multiple choice against lm-evaluation-harness 0.4.13: the fixtures of tools/make_mc_fixtures.py
// are small random-weight Mixtral / Qwen1.5-MoE / DeepSeek-V2-Lite models with tokenizers of the
// same kind, MC items, and what lm-eval's HFLM computed on them (the token ids it scored, the
// summed log-likelihood of every choice, acc). uoe must give the same ids exactly, the same
// log-likelihoods to 1e-4 (max abs, fp32 model on both sides) and the same chosen answers and acc,
// with EP=1 and, on 2 ranks, EP=2. A tokenizer that does not fit the model is an error.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/hf_config.h"
#include "eval/multiple_choice.h"
#include "formats/safetensors_checkpoint.h"
#include "parallel/process_groups.h"
#include "test_utils.h"
#include "tokenizer/word_tokenizer.h"

namespace uoe {
namespace {

constexpr double kLogLikelihoodTolerance = 1e-4;  // max |diff| of a choice's summed log p

const std::string kFixtures = std::string(UOE_SOURCE_DIR) + "/tests/fixtures/mc/";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Writes a word vocabulary (tokenizer/word_tokenizer.h) to a file of this rank and returns its
// path.
std::string write_word_vocabulary(const std::vector<std::string>& words) {
  static int counter = 0;
  const std::string path = testing::TempDir() + "uoe_mc_vocab_" + std::to_string(::getpid()) + "_" +
                           std::to_string(test::world()->rank()) + "_" + std::to_string(counter++) +
                           ".json";
  WordTokenizer(words).save(path);
  return path;
}

class McParity : public ::testing::TestWithParam<std::string> {};

TEST_P(McParity, TokenIdsEqualLmEval) {
  const std::string dir = kFixtures + GetParam();
  const auto tokenizer = load_text_tokenizer(dir + "/tokenizer.json", "dataset.tokenizer");
  const auto reference = read_json(dir + "/lm_eval.json");
  const auto items = load_mc_jsonl(dir + "/mc.jsonl");
  ASSERT_EQ(items.size(), reference["samples"].size());
  for (const auto& sample : reference["samples"]) {
    const McItem& item = items.at(sample["doc_id"].get<size_t>());
    for (size_t c = 0; c < item.choices.size(); ++c) {
      const McRequest r = encode_mc_request(*tokenizer, item.question, " " + item.choices[c]);
      const std::string tag =
          GetParam() + " item " + sample["doc_id"].dump() + " choice " + std::to_string(c);
      EXPECT_EQ(r.context, sample["context_tokens"][c].get<std::vector<int32_t>>()) << tag;
      EXPECT_EQ(r.continuation, sample["continuation_tokens"][c].get<std::vector<int32_t>>())
          << tag;
    }
  }
}

TEST_P(McParity, LogLikelihoodsAndAccuracyEqualLmEval) {
  const std::string dir = kFixtures + GetParam();
  const ModelConfig config = read_hf_config(dir);
  const auto tokenizer = load_text_tokenizer(dir + "/tokenizer.json", "dataset.tokenizer");
  const McSet set =
      McSet::load(dir + "/mc.jsonl", *tokenizer, "dataset.tokenizer", config.vocab_size);
  const auto reference = read_json(dir + "/lm_eval.json");
  auto world = test::world();
  std::vector<int> layouts = {1};  // EP sizes; 2 ranks also run EP=1 x DP=2
  if (world->size() > 1) layouts.push_back(world->size());
  for (int ep : layouts) {
    if (config.num_experts % ep != 0) continue;
    auto groups = ProcessGroups::create(world, ep);
    CausalLM model(config, groups.ep());
    load_hf_checkpoint(SafetensorsCheckpoint(dir), model, config.architecture);
    model->eval();
    const McScores scores = score_mc(model, set, groups, /*batch_size=*/3);
    const std::string tag = GetParam() + " ep=" + std::to_string(ep);
    double max_diff = 0;
    for (const auto& sample : reference["samples"]) {
      const size_t i = sample["doc_id"].get<size_t>();
      const auto want = sample["loglikelihoods"].get<std::vector<double>>();
      ASSERT_EQ(scores.loglikelihoods.at(i).size(), want.size()) << tag;
      for (size_t c = 0; c < want.size(); ++c) {
        max_diff = std::max(max_diff, std::abs(scores.loglikelihoods[i][c] - want[c]));
      }
      const bool correct = scores.chosen[i] == set.items[i].answer;
      EXPECT_EQ(correct ? 1.0 : 0.0, sample["acc"].get<double>()) << tag << " item " << i;
    }
    std::cout << tag << ": max |log-likelihood diff| vs lm-eval " << max_diff << ", acc "
              << scores.accuracy << " (lm-eval " << reference["acc"].get<double>() << ")\n";
    EXPECT_LE(max_diff, kLogLikelihoodTolerance) << tag;
    EXPECT_EQ(scores.accuracy, reference["acc"].get<double>()) << tag;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, McParity,
                         ::testing::Values("mixtral", "qwen2_moe", "deepseek_v2"));

// The published Mixtral-8x7B tokenizer, loaded by lm-eval through AutoTokenizer (transformers'
// LlamaTokenizer class) and by uoe from tokenizer.json: the same ids for the same requests.
TEST(MultipleChoice, RealMixtralTokenizerIdsEqualLmEval) {
  const char* env = std::getenv("UOE_HF_DATA_DIR");
  const std::string dir = std::string(env ? env : UOE_HF_DATA_DIR) + "/Mixtral-8x7B-v0.1";
  if (!std::ifstream(dir + "/tokenizer.json").good()) {
    GTEST_SKIP() << "no " << dir << "/tokenizer.json (set UOE_HF_DATA_DIR to the folder holding "
                 << "Mixtral-8x7B-v0.1/): real-tokenizer parity not checked";
  }
  const auto tokenizer = load_text_tokenizer(dir, "dataset.tokenizer");
  const auto reference = read_json(kFixtures + "mixtral/real_tokenizer.json");
  ASSERT_EQ(reference["requests"].size(), 23u);
  for (const auto& request : reference["requests"]) {
    const auto context = request["arguments"][0].get<std::string>();
    const auto continuation = request["arguments"][1].get<std::string>();
    const McRequest r = encode_mc_request(*tokenizer, context, continuation);
    const std::string tag = request["arguments"].dump();
    EXPECT_EQ(r.context, request["context_tokens"].get<std::vector<int32_t>>()) << tag;
    EXPECT_EQ(r.continuation, request["continuation_tokens"].get<std::vector<int32_t>>()) << tag;
  }
}

TEST(MultipleChoice, WordVocabularyOnAnHfModelsProbesIsAnError) {
  const std::string path =
      write_word_vocabulary({"<pad>", "<bos>", "<eos>", "<unk>", "The", "quick", "A", "B"});
  const auto tokenizer = load_text_tokenizer(path, "dataset.tokenizer");
  EXPECT_TRUE(tokenizer->is_word_vocabulary());
  test::expect_input_error(
      [&] { McSet::load(kFixtures + "mixtral/mc.jsonl", *tokenizer, "dataset.tokenizer", 960); },
      {"dataset.tokenizer", path, "unknown", "mixtral/mc.jsonl"});
  std::remove(path.c_str());
}

TEST(MultipleChoice, TokenizerLargerThanTheModelIsAnError) {
  const auto tokenizer = load_text_tokenizer(kFixtures + "qwen2_moe", "dataset.tokenizer");
  test::expect_input_error(
      [&] { McSet::load(kFixtures + "qwen2_moe/mc.jsonl", *tokenizer, "dataset.tokenizer", 128); },
      {"dataset.tokenizer", "qwen2_moe", "128 embedding rows"});
}

TEST(MultipleChoice, WordVocabularyScoresTheChoiceWordsAfterBosAndQuestion) {
  const std::string path = write_word_vocabulary(
      {"<pad>", "<bos>", "<eos>", "<unk>", "where", "is", "x", "in", "paris"});
  const auto tokenizer = load_text_tokenizer(path, "dataset.tokenizer");
  const McRequest r = encode_mc_request(*tokenizer, "where is x ", " in paris");
  EXPECT_EQ(r.context, (std::vector<int32_t>{WordTokenizer::kBos, 4, 5, 6}));
  EXPECT_EQ(r.continuation, (std::vector<int32_t>{7, 8}));
  std::remove(path.c_str());
}

TEST(MultipleChoice, MissingTokenizerNamesTheKey) {
  test::expect_input_error(
      [] { load_text_tokenizer("/nonexistent/tokenizer.json", "dataset.tokenizer"); },
      {"dataset.tokenizer", "/nonexistent/tokenizer.json"});
}

}  // namespace
}  // namespace uoe
