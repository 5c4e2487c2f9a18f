// Routers against straightforward per-token reference implementations of the published rules
// (Mixtral / Qwen softmax top-K, DeepSeek-V2 group-limited greedy, DeepSeek-V3 noaux_tc).
#include <algorithm>
#include <limits>
#include <numeric>

#include "moe/router.h"
#include "test_utils.h"

namespace uoe {
namespace {

constexpr int64_t kTokens = 64, kHidden = 16, kExperts = 16;

struct Reference {
  std::vector<std::vector<int64_t>> ids;     // per token, sorted by descending score
  std::vector<std::vector<double>> weights;  // matching ids
};

std::vector<int64_t> top_indices(const std::vector<double>& scores, int64_t k) {
  std::vector<int64_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  idx.resize(k);
  return idx;
}

// One token: scores (probabilities or sigmoid), selection scores (maybe biased), groups.
Reference reference_route(const torch::Tensor& probs, const torch::Tensor& bias,
                          const RouterOptions& o) {
  Reference ref;
  const int64_t group_size = o.num_experts / o.n_group;
  for (int64_t t = 0; t < probs.size(0); ++t) {
    std::vector<double> p(o.num_experts), choice(o.num_experts);
    for (int64_t e = 0; e < o.num_experts; ++e) {
      p[e] = probs[t][e].item<double>();
      choice[e] = p[e] + (bias.defined() ? bias[e].item<double>() : 0.0);
    }
    if (o.n_group > 1) {
      std::vector<double> group_score(o.n_group);
      for (int64_t g = 0; g < o.n_group; ++g) {
        std::vector<double> members(choice.begin() + g * group_size,
                                    choice.begin() + (g + 1) * group_size);
        std::sort(members.rbegin(), members.rend());
        group_score[g] = o.kind == RouterKind::kDeepSeekV3 ? members[0] + members[1] : members[0];
      }
      auto kept = top_indices(group_score, o.topk_group);
      // Dropped groups: 0 in DeepSeek-V2's code (probabilities are > 0), -inf in DeepSeek-V3's
      // (biased scores may be negative).
      const double dropped =
          o.kind == RouterKind::kDeepSeekV3 ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t e = 0; e < o.num_experts; ++e) {
        if (std::find(kept.begin(), kept.end(), e / group_size) == kept.end()) choice[e] = dropped;
      }
    }
    auto ids = top_indices(choice, o.top_k);
    std::vector<double> w;
    for (auto e : ids) w.push_back(p[e]);
    const double total = std::accumulate(w.begin(), w.end(), 0.0);
    const bool renorm = o.norm_topk_prob && (o.kind != RouterKind::kDeepSeekV2 || o.top_k > 1);
    for (auto& x : w) {
      if (renorm) x /= total;
      if (o.kind != RouterKind::kDeepSeekV2 || !renorm) x *= o.routed_scaling_factor;
    }
    ref.ids.push_back(ids);
    ref.weights.push_back(w);
  }
  return ref;
}

// `even_bias_shift` is added to the correction bias of every even expert (DeepSeek-V3).
void check_router(RouterOptions o, const std::string& what, double even_bias_shift = 0.0) {
  o.hidden_size = kHidden;
  o.num_experts = kExperts;
  Router router(o);
  {
    torch::NoGradGuard no_grad;
    router->weight.copy_(test::seeded_randn({kExperts, kHidden}, 7));
    if (router->e_score_correction_bias.defined()) {
      auto bias = test::seeded_randn({kExperts}, 8, 0.3);
      bias.slice(0, 0, kExperts, 2).add_(even_bias_shift);
      router->e_score_correction_bias.copy_(bias);
    }
  }
  auto hidden = test::seeded_randn({kTokens, kHidden}, 9);
  auto out = router->forward(hidden);
  ASSERT_EQ(out.probs.sizes(), (std::vector<int64_t>{kTokens, kExperts})) << what;
  ASSERT_EQ(out.probs.scalar_type(), torch::kFloat32);
  auto logits = torch::matmul(hidden.to(torch::kFloat64), router->weight.to(torch::kFloat64).t());
  auto expected_probs =
      o.kind == RouterKind::kDeepSeekV3 ? torch::sigmoid(logits) : torch::softmax(logits, -1);
  test::expect_close(out.probs, expected_probs, 1e-6, what + " probs");
  auto ref = reference_route(expected_probs, router->e_score_correction_bias, o);
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t k = 0; k < o.top_k; ++k) {
      EXPECT_EQ(out.topk_ids[t][k].item<int64_t>(), ref.ids[t][k]) << what << " token " << t;
      EXPECT_NEAR(out.topk_weights[t][k].item<double>(), ref.weights[t][k],
                  2e-5 * std::max(1.0, std::abs(ref.weights[t][k])))  // fp32 vs fp64
          << what << " token " << t;
    }
  }
}

TEST(Router, SoftmaxTopKWithoutRenormalisation) {
  RouterOptions o;
  o.top_k = 4;
  check_router(o, "softmax (OLMoE / Qwen norm_topk_prob=false)");
}

TEST(Router, SoftmaxTopKRenormalised) {
  RouterOptions o;
  o.top_k = 2;
  o.norm_topk_prob = true;
  check_router(o, "softmax renormalised (Mixtral)");
}

TEST(Router, DeepSeekV2ScaledGreedy) {
  RouterOptions o;
  o.kind = RouterKind::kDeepSeekV2;
  o.top_k = 6;
  o.routed_scaling_factor = 16.0;
  check_router(o, "deepseek_v2 greedy scaled");
}

TEST(Router, DeepSeekV2GroupLimited) {
  RouterOptions o;
  o.kind = RouterKind::kDeepSeekV2;
  o.top_k = 3;
  o.n_group = 4;
  o.topk_group = 2;
  o.routed_scaling_factor = 2.5;
  check_router(o, "deepseek_v2 group_limited_greedy");
}

// DeepSeek-V3's router: 4 groups of 4 experts, 2 kept, renormalised, scaled by 2.5.
RouterOptions noaux_tc(int64_t top_k) {
  RouterOptions o;
  o.kind = RouterKind::kDeepSeekV3;
  o.top_k = top_k;
  o.n_group = 4;
  o.topk_group = 2;
  o.norm_topk_prob = true;
  o.routed_scaling_factor = 2.5;
  return o;
}

TEST(Router, DeepSeekV3NoAuxTcWithBias) { check_router(noaux_tc(4), "deepseek_v3 noaux_tc"); }

// Half of each kept group's experts have negative biased scores and top_k exceeds the positive
// ones: the K-th choice is a negative kept expert, which 0 in the dropped groups would outrank.
TEST(Router, DeepSeekV3NegativeBiasedScoresBeatDroppedGroups) {
  check_router(noaux_tc(6), "deepseek_v3 negative biased scores", -2.0);
}

TEST(Router, GradientFlowsToWeightThroughProbsAndCombineWeights) {
  RouterOptions o;
  o.hidden_size = kHidden;
  o.num_experts = kExperts;
  o.top_k = 2;
  Router router(o);
  torch::nn::init::normal_(router->weight, 0, 1);
  auto out = router->forward(test::seeded_randn({8, kHidden}, 3));
  (out.topk_weights.sum() + out.probs.pow(2).sum()).backward();
  ASSERT_TRUE(router->weight.grad().defined());
  EXPECT_GT(router->weight.grad().abs().sum().item<double>(), 0.0);
}

TEST(Router, RejectsBadOptions) {
  RouterOptions o;
  o.hidden_size = 4;
  o.num_experts = 6;
  o.top_k = 7;
  EXPECT_THROW(Router{o}, InputError);
  o.top_k = 2;
  o.n_group = 4;
  EXPECT_THROW(Router{o}, InputError);
}

}  // namespace
}  // namespace uoe
