// Unlearning objectives: hand-computed values and finite-difference gradients.
#include <cmath>

#include "eval/routing_metrics.h"
#include "test_utils.h"
#include "unlearn/objectives.h"

namespace uoe {
namespace {

double log_sigmoid(double x) { return -std::log1p(std::exp(-x)); }

TEST(Objectives, SequenceLogProbsSumScoredTokens) {
  // Vocabulary of 2, logits chosen so that log p(label) is known: p = softmax([0, ln 3]) = [1/4,
  // 3/4].
  auto logits = torch::tensor({0.0, std::log(3.0)}, torch::kFloat64).repeat({1, 3, 1});  // [1,3,2]
  auto labels = torch::tensor({{int64_t(1), int64_t(0), int64_t(1)}});
  auto mask = torch::tensor({{0.0, 1.0, 1.0}}, torch::kFloat64);
  auto seq = sequence_log_probs(logits, labels, mask);
  EXPECT_NEAR(seq.logp.item<double>(), std::log(0.25) + std::log(0.75), 1e-12);
  EXPECT_EQ(seq.num_tokens.item<double>(), 2.0);
}

TEST(Objectives, NpoAndSimNpoHandComputed) {
  SequenceLogProbs seq{torch::tensor({-2.0, -6.0, 0.0}, torch::kFloat64),
                       torch::tensor({2.0, 3.0, 0.0}, torch::kFloat64)};  // third: no tokens
  auto ref = torch::tensor({-1.0, -5.0, -9.0}, torch::kFloat64);
  const double beta = 0.5;
  const double npo =
      -(2 / beta) * (log_sigmoid(-beta * (-2.0 + 1.0)) + log_sigmoid(-beta * (-6.0 + 5.0)));
  EXPECT_NEAR(npo_loss_sum(seq, ref, beta).item<double>(), npo, 1e-12);
  const double delta = 0.3, sbeta = 2.5;
  const double simnpo = -(2 / sbeta) * (log_sigmoid(-sbeta * (-2.0 / 2) - delta) +
                                        log_sigmoid(-sbeta * (-6.0 / 3) - delta));
  EXPECT_NEAR(simnpo_loss_sum(seq, sbeta, delta).item<double>(), simnpo, 1e-12);
  // NPO at the reference point is (2/beta) log 2 per sequence.
  EXPECT_NEAR(npo_loss_sum(seq, seq.logp, beta).item<double>(), 2 * (2 / beta) * std::log(2.0),
              1e-12);
}

TEST(Objectives, RmuTermsHandComputed) {
  auto hidden = torch::tensor({{{1.0f, 2.0f}, {3.0f, 4.0f}}});  // [1, 2, 2]
  auto valid = torch::tensor({{1.0f, 0.0f}});
  auto target = torch::tensor({0.0f, 2.0f});
  EXPECT_FLOAT_EQ(rmu_forget_sum(hidden, valid, target).item<float>(), 1.0f);
  auto frozen = torch::tensor({{{1.0f, 0.0f}, {0.0f, 0.0f}}});
  EXPECT_FLOAT_EQ(rmu_retain_sum(hidden, frozen, torch::ones({1, 2})).item<float>(), 4.0f + 25.0f);
  auto u = rmu_target(16, 6.5, 3);
  EXPECT_NEAR(u.norm().item<double>(), 6.5, 1e-5);
  EXPECT_TRUE(torch::equal(u, rmu_target(16, 6.5, 3)));
  EXPECT_GE(u.min().item<float>(), 0.0f);
}

TEST(Objectives, AnchorLossValueAndFiniteDifferenceGradient) {
  auto logits = test::seeded_randn({5, 6}, 1, 1.0, torch::kFloat64).requires_grad_();
  auto valid = torch::tensor({1.0, 1.0, 0.0, 1.0, 1.0}, torch::kFloat64);
  const int64_t expert = 2;
  auto loss_of = [&](const torch::Tensor& l) {
    return anchor_loss_sum(torch::softmax(l, -1), valid, expert);
  };
  auto probs = torch::softmax(logits, -1).detach();
  double expected = 0;
  for (int64_t t = 0; t < 5; ++t) {
    if (valid[t].item<double>() == 0) continue;
    for (int64_t e = 0; e < 6; ++e) {
      const double d = probs[t][e].item<double>() - (e == expert ? 1.0 : 0.0);
      expected += d * d;
    }
  }
  auto loss = loss_of(logits);
  EXPECT_NEAR(loss.item<double>(), expected, 1e-12);
  loss.backward();
  const double eps = 1e-6;
  for (int64_t i = 0; i < logits.numel(); ++i) {
    auto plus = logits.detach().clone(), minus = logits.detach().clone();
    plus.view({-1})[i] += eps;
    minus.view({-1})[i] -= eps;
    const double numeric =
        (loss_of(plus).item<double>() - loss_of(minus).item<double>()) / (2 * eps);
    EXPECT_NEAR(logits.grad().view({-1})[i].item<double>(), numeric, 1e-7) << "element " << i;
  }
  // Pad tokens contribute no gradient.
  EXPECT_EQ(logits.grad()[2].abs().sum().item<double>(), 0.0);
}

TEST(Objectives, TargetSelectionCounts) {
  auto ids = torch::tensor(std::vector<int64_t>{0, 3, 3, 1, 2, 0}).view({3, 2});
  const auto counts = target_selection_counts(ids, torch::tensor({1.0, 1.0, 0.0}), 3);
  EXPECT_EQ(counts.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::equal(counts, torch::tensor({2.0, 2.0}, torch::kFloat64)));  // hits, tokens
}

}  // namespace
}  // namespace uoe
