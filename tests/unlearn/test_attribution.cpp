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
    auto ids =
        torch::tensor(std::vector<int64_t>(s.tokens.begin(), s.tokens.end() - 1)).unsqueeze(0);
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
    EXPECT_EQ(result.counts.sum().item<int64_t>(),
              result.num_tokens * 2 * config.num_experts_per_tok);
  }
}

TokenDataset subset(const TokenDataset& data, int64_t begin, int64_t end) {
  std::vector<TokenSequence> sequences;
  for (int64_t j = begin; j < end; ++j) sequences.push_back(data.get(j));
  return TokenDataset(std::move(sequences), data.vocab_size(), "subset");
}

// forget share - retain share, one entry at a time.
torch::Tensor contrast_by_loops(const torch::Tensor& forget, const torch::Tensor& retain) {
  auto out = torch::zeros_like(forget);
  for (int64_t l = 0; l < forget.size(0); ++l) {
    const double f_sum = forget[l].sum().item<double>(), r_sum = retain[l].sum().item<double>();
    for (int64_t e = 0; e < forget.size(1); ++e) {
      out[l][e] = forget[l][e].item<double>() / f_sum - retain[l][e].item<double>() / r_sum;
    }
  }
  return out;
}

// The split-half scores are the attribution of each half on its own, and the contrast is the
// share difference of two brute-force tables, under every EP x DP layout (np 1, 2, 4).
TEST(Attribution, HalvesAndContrastUnderEveryLayout) {
  auto world = test::world();
  const int n = world->size();
  const auto config = test::tiny_moe_config(4 * n);
  auto forget = test::random_qa_dataset(13, config.vocab_size, 3);
  auto retain = test::random_qa_dataset(9, config.vocab_size, 5);
  CausalLM reference(config, nullptr);
  reference->initialize(11);
  const auto first = subset(forget, 0, 6), second = subset(forget, 6, 13);  // floor(13 / 2) = 6
  const auto want_first = brute_force(reference, first).first;
  const auto want_second = brute_force(reference, second).first;
  const auto want_contrast =
      contrast_by_loops(brute_force(reference, forget).first, brute_force(reference, retain).first);
  EXPECT_GT(want_contrast.abs().max().item<double>(), 1e-3);
  for (int ep = 1; ep <= n; ++ep) {
    if (n % ep != 0) continue;
    auto groups = ProcessGroups::create(world, ep);
    CausalLM model(config, groups.ep());
    model->initialize(11);
    const auto forget_result = compute_attribution(model, forget, groups, /*batch_size=*/2);
    const auto retain_result = compute_attribution(model, retain, groups, /*batch_size=*/2);
    const std::string tag = "ep=" + std::to_string(ep);
    ASSERT_EQ(forget_result.half_scores.sizes(), (std::vector<int64_t>{2, 2, 4 * n}));
    test::expect_close(forget_result.half_scores[0], want_first, 1e-6, tag + " first half");
    test::expect_close(forget_result.half_scores[1], want_second, 1e-6, tag + " second half");
    test::expect_close((6 * forget_result.half_scores[0] + 7 * forget_result.half_scores[1]) / 13,
                       forget_result.scores, 1e-12, tag + " halves average to the whole");
    test::expect_close(attribution_contrast(forget_result.scores, retain_result.scores),
                       want_contrast, 1e-6, tag + " contrast");
    const auto agreement = split_half_agreement(forget_result);
    ASSERT_TRUE(agreement.has_value());
    for (int64_t r = 0; r < 2; ++r) {
      EXPECT_EQ(agreement->top_first[r], want_first[r].argmax().item<int64_t>()) << tag;
      EXPECT_EQ(agreement->top_second[r], want_second[r].argmax().item<int64_t>()) << tag;
    }
  }
}

// Two MoE layers (1, 2) of 4 experts with scores chosen so that the forget-only rule and the
// contrast rule disagree.
AttributionResult hand_attribution() {
  AttributionResult a;
  a.layers = {1, 2};
  a.scores = torch::tensor({0.40, 0.30, 0.20, 0.10,   // layer 1: shares the same (sum 1)
                            0.20, 1.00, 0.60, 0.20},  // layer 2: shares 0.1 0.5 0.3 0.1
                           torch::kFloat64)
                 .view({2, 4});
  a.counts = torch::zeros({2, 4}, torch::kInt64);
  return a;
}

TEST(Selection, ContrastIsForgetShareMinusRetainShareByHand) {
  const auto retain = torch::tensor({0.45, 0.05, 0.30, 0.20,   // layer 1 shares (sum 1)
                                     0.10, 1.20, 0.30, 0.40},  // layer 2: 0.05 0.6 0.15 0.2
                                    torch::kFloat64)
                          .view({2, 4});
  const auto want =
      torch::tensor({-0.05, 0.25, -0.10, -0.10, 0.05, -0.10, 0.15, -0.10}, torch::kFloat64)
          .view({2, 4});
  AttributionResult a = hand_attribution();
  a.contrast = attribution_contrast(a.scores, retain);
  test::expect_close(a.contrast, want, 1e-12, "contrast");
  // An all-zero row (a set that never reaches the layer) has share 0, not NaN.
  auto zero_row = retain.clone();
  zero_row[1].zero_();
  test::expect_close(attribution_contrast(a.scores, zero_row)[1],
                     torch::tensor({0.1, 0.5, 0.3, 0.1}, torch::kFloat64), 1e-12, "zero row");

  const auto config = test::tiny_moe_config(4);
  SelectionConfig s;  // default: the paper's forget-only rule picks layer 2 expert 1 (score 1.0)
  auto forget_only = select_targets(s, &a, config, 1);
  EXPECT_EQ(forget_only.experts[0].layer, 2);
  EXPECT_EQ(forget_only.experts[0].expert, 1);
  s.mode = SelectionMode::kContrast;  // layer 1 expert 1 (+0.25), then layer 2 expert 2 (+0.15)
  s.top_m = 2;
  auto global = select_targets(s, &a, config, 1);
  ASSERT_EQ(global.experts.size(), 2u);
  EXPECT_EQ(global.mode, SelectionMode::kContrast);
  EXPECT_EQ(global.experts[0].layer, 1);
  EXPECT_EQ(global.experts[0].expert, 1);
  EXPECT_EQ(global.experts[1].layer, 2);
  EXPECT_EQ(global.experts[1].expert, 2);
  s.scope =
      SelectionScope::kLayer;  // no layer given: the layer of the best contrast, then its ranking
  auto within = select_targets(s, &a, config, 1);
  EXPECT_EQ(within.experts[0].layer, 1);
  EXPECT_EQ(within.experts[0].expert, 1);
  EXPECT_EQ(within.experts[1].layer, 1);
  EXPECT_EQ(within.experts[1].expert, 0);  // -0.05 beats -0.10 (experts 2 and 3)
  s.layer = 2;  // layer 2 by contrast: expert 2 (+0.15), expert 0 (+0.05)
  auto in_layer_2 = select_targets(s, &a, config, 1);
  EXPECT_EQ(in_layer_2.experts[0].expert, 2);
  EXPECT_EQ(in_layer_2.experts[1].expert, 0);
  // Without a retain set there is no contrast to rank by.
  AttributionResult no_retain = hand_attribution();
  try {
    select_targets(s, &no_retain, config, 1);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unlearn.selection.mode=contrast needs dataset.retain"),
              std::string::npos)
        << e.what();
  }
}

TEST(Attribution, SplitHalfAgreementOnAConstructedCase) {
  AttributionResult a;
  a.layers = {1, 2, 3};
  a.num_sequences = 10;
  a.half_scores = torch::zeros({2, 3, 4}, torch::kFloat64);
  // First half: tops e2, e1, e0 (global: layer 3 e0, 0.9). Second half: tops e2, e3, e0 (global:
  // layer 1 e2, 0.8). Layers 1 and 3 agree, layer 2 does not; the global top-1 differs.
  a.half_scores[0][0][2] = 0.5;
  a.half_scores[0][1][1] = 0.4;
  a.half_scores[0][2][0] = 0.9;
  a.half_scores[1][0][2] = 0.8;
  a.half_scores[1][1][3] = 0.6;
  a.half_scores[1][1][1] = 0.5;
  a.half_scores[1][2][0] = 0.7;
  auto agreement = split_half_agreement(a);
  ASSERT_TRUE(agreement.has_value());
  EXPECT_EQ(agreement->top_first, (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(agreement->top_second, (std::vector<int64_t>{2, 3, 0}));
  EXPECT_EQ(agreement->layers_agreeing, 2);
  EXPECT_NEAR(agreement->share, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(agreement->global_first.layer, 3);
  EXPECT_EQ(agreement->global_first.expert, 0);
  EXPECT_EQ(agreement->global_second.layer, 1);
  EXPECT_EQ(agreement->global_second.expert, 2);
  EXPECT_FALSE(agreement->global_agrees);
  EXPECT_EQ(agreement->to_json().at("agreement_share").get<double>(), agreement->share);
  // Ties go to the lower expert id: all-equal rows agree on e0 everywhere.
  a.half_scores.fill_(0.25);
  agreement = split_half_agreement(a);
  EXPECT_EQ(agreement->top_first, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(agreement->layers_agreeing, 3);
  EXPECT_TRUE(agreement->global_agrees);
  EXPECT_EQ(agreement->global_first.layer, 1);
  a.num_sequences = 1;  // one sequence cannot be split
  EXPECT_FALSE(split_half_agreement(a).has_value());
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
  auto r1 = select_targets(random, nullptr, config, 7),
       r2 = select_targets(random, nullptr, config, 7);
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
