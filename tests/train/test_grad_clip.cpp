// Global gradient norm counts every parameter once, whatever the layout: dense grads (replicated)
// once, each expert once (expert-DP replicas are not double counted).
#include "test_utils.h"
#include "train/grad_clip.h"

namespace uoe {
namespace {

TEST(GradClip, NormCountsEachExpertOnce) {
  auto world = test::world();
  const int n = world->size();
  for (int ep = 1; ep <= n; ++ep) {
    if (n % ep != 0) continue;
    auto groups = ProcessGroups::create(world, ep);
    // Dense grad 3-4 (norm 5) on every rank; this rank's expert (id = ep_rank) has grad of value
    // (ep_rank + 1) in 2 elements. Replicas of an expert hold the same (synchronised) values.
    auto dense = torch::zeros({2}, torch::requires_grad());
    dense.mutable_grad() = torch::tensor({3.0f, 4.0f});
    auto expert = torch::zeros({2}, torch::requires_grad());
    expert.mutable_grad() = torch::full({2}, float(groups.ep_rank() + 1));
    double expected_sq = 25.0;
    for (int e = 0; e < ep; ++e) expected_sq += 2.0 * (e + 1) * (e + 1);
    GradientGroups params{{dense}, {expert}};
    EXPECT_NEAR(global_grad_norm(params, groups), std::sqrt(expected_sq), 1e-9) << "ep=" << ep;
    const double norm = clip_grad_norm(params, groups, 1.0);
    EXPECT_NEAR(norm, std::sqrt(expected_sq), 1e-9);
    EXPECT_NEAR(global_grad_norm(params, groups), 1.0, 1e-5) << "after clipping, ep=" << ep;
  }
}

}  // namespace
}  // namespace uoe
