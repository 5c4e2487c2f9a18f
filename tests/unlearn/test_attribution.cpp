// Attribution (SEUF Eq. 2) under every EP x DP layout equals a single-process brute-force loop
// over sequences and tokens.
#include "parallel/process_groups.h"
#include "test_utils.h"
#include "unlearn/attribution.h"
#include "unlearn/selection.h"
#include "unlearn_fixtures.h"

namespace uoe {
namespace {

// One sequence at a time, one token at a time, straight from the definition.
std::pair<torch::Tensor, torch::Tensor> brute_force(CausalLM& model, const TokenDataset& data) {
  torch::NoGradGuard no_grad;
  const auto& c = model->config();
  const int64_t rows = c.num_moe_layers();
  auto scores = torch::zeros({rows, c.num_experts}, torch::kFloat64);
  auto counts = torch::zeros({rows, c.num_experts}, torch::kInt64);
  for (int64_t j = 0; j < data.size(); ++j) {
    auto s = data.get(j);
    auto ids = torch::tensor(std::vector<int64_t>(s.tokens.begin(), s.tokens.end() - 1)).unsqueeze(0);
    auto out = model->forward(ids);
    const int64_t length = ids.size(1);
    int64_t row = 0;
    for (const auto& [layer, moe] : out.moe) {
      for (int64_t t = 0; t < length; ++t) {
        for (int64_t k = 0; k < c.num_experts_per_tok; ++k) {
          const int64_t e = moe.routing.topk_ids[t][k].item<int64_t>();
          scores[row][e] += moe.routing.probs[t][e].item<double>() / double(length);
          counts[row][e] += 1;
        }
      }
      ++row;
    }
  }
  return {scores / double(data.size()), counts};
}

TEST(Attribution, MatchesBruteForceUnderEveryLayout) {
  auto world = test::world();
  const int n = world->size();
  const auto config = test::tiny_moe_config(4 * n);
  auto data = test::random_qa_dataset(13, config.vocab_size, 3);  // not a multiple of the world
  CausalLM reference(config, nullptr);
  reference->initialize(11);
  auto [want_scores, want_counts] = brute_force(reference, data);
  EXPECT_GT(want_scores.sum().item<double>(), 0.0);
  for (int ep = 1; ep <= n; ++ep) {
    if (n % ep != 0) continue;
    auto groups = ProcessGroups::create(world, ep);
    CausalLM model(config, groups.ep());
    model->initialize(11);
    auto result = compute_attribution(model, data, groups, /*batch_size=*/3);
    const std::string tag = "ep=" + std::to_string(ep);
    test::expect_close(result.scores, want_scores, 1e-6, tag + " scores");
    EXPECT_TRUE(torch::equal(result.counts, want_counts)) << tag;
    EXPECT_EQ(result.num_sequences, 13);
    EXPECT_EQ(result.layers, (std::vector<int64_t>{1, 2}));
    // Each layer's scores sum to the mean over sequences of the mean top-K mass per token.
    EXPECT_EQ(result.counts.sum().item<int64_t>(), result.num_tokens * 2 * config.num_experts_per_tok);
  }
}

TEST(Selection, ModesPickTheRightExperts) {
  const auto config = test::tiny_moe_config(8);
  AttributionResult a;
  a.layers = {1, 2};
  a.scores = torch::zeros({2, 8}, torch::kFloat64);
  a.scores[1][5] = 0.9;  // best overall: layer 2 expert 5
  a.scores[0][3] = 0.8;
  a.scores[1][6] = 0.7;
  a.counts = torch::zeros({2, 8}, torch::kInt64);
  SelectionConfig s;
  auto top1 = select_targets(s, &a, config, 1);
  ASSERT_EQ(top1.experts.size(), 1u);
  EXPECT_EQ(top1.experts[0].layer, 2);
  EXPECT_EQ(top1.experts[0].expert, 5);
  s.top_m = 2;
  auto global = select_targets(s, &a, config, 1);
  EXPECT_EQ(global.experts[1].layer, 1);
  EXPECT_EQ(global.experts[1].expert, 3);
  s.scope = SelectionScope::kLayer;
  auto within = select_targets(s, &a, config, 1);
  EXPECT_EQ(within.experts[1].layer, 2);
  EXPECT_EQ(within.experts[1].expert, 6);
  SelectionConfig fixed;
  fixed.mode = SelectionMode::kFixed;
  fixed.layer = 1;
  fixed.experts = {4};
  EXPECT_EQ(select_targets(fixed, nullptr, config, 1).experts[0].expert, 4);
  SelectionConfig layer;
  layer.mode = SelectionMode::kLayer;
  EXPECT_EQ(select_targets(layer, &a, config, 1).experts.size(), 8u);
  SelectionConfig random;
  random.mode = SelectionMode::kRandom;
  auto r1 = select_targets(random, nullptr, config, 7), r2 = select_targets(random, nullptr, config, 7);
  EXPECT_EQ(r1.experts[0].expert, r2.experts[0].expert);
  EXPECT_EQ(r1.experts[0].layer, r2.experts[0].layer);
  SelectionConfig full;
  full.mode = SelectionMode::kFull;
  EXPECT_TRUE(select_targets(full, nullptr, config, 1).full);
  fixed.experts = {4, 4};
  EXPECT_THROW(select_targets(fixed, nullptr, config, 1), InputError);
  fixed.experts = {4};
  fixed.layer = 0;  // a dense layer
  EXPECT_THROW(select_targets(fixed, nullptr, config, 1), InputError);
}

}  // namespace
}  // namespace uoe
