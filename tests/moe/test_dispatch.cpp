// Token dispatcher: dispatch followed by combine is the identity (forward and gradient), whatever
// the layout, including ranks with no tokens and experts that receive none.
#include "moe/token_dispatcher.h"
#include "parallel/mpi_communicator.h"
#include "parallel/process_groups.h"
#include "test_utils.h"

namespace uoe {
namespace {

constexpr int64_t kHidden = 8, kTopK = 2;

std::vector<int> ep_sizes_for(int world) {
  std::vector<int> sizes;
  for (int ep = 1; ep <= world; ++ep) {
    if (world % ep == 0) sizes.push_back(ep);
  }
  return sizes;
}

// Dispatch -> identity experts -> combine with weights 1/K must return the input, and the
// gradient of sum(out * g) with respect to the input must be g; through either transport. (In
// bf16 too: halves of bf16 values summed in fp32 are exact.)
void check_round_trip(int64_t num_tokens, const torch::Tensor& topk_ids, int64_t num_experts,
                      const ProcessGroups& groups, const std::string& what,
                      torch::Dtype dtype = torch::kFloat32) {
  for (const bool shared_memory : {false, true}) {
    const std::string tag = what + (shared_memory ? " shared-memory" : " all-to-all");
    TokenDispatcher dispatcher(groups.ep(), num_experts);
    dispatcher.set_shared_memory(shared_memory);
    auto hidden =
        test::seeded_randn({num_tokens, kHidden}, 11 + groups.rank()).to(dtype).requires_grad_();
    auto [rows, plan] = dispatcher.dispatch(hidden, topk_ids);
    int64_t received = 0;
    for (auto c : plan.rows_per_local_expert) received += c;
    EXPECT_EQ(received, rows.size(0)) << tag;
    auto weights = torch::full({num_tokens, kTopK}, 1.0 / kTopK);
    auto out = dispatcher.combine(rows, plan, weights, true);
    const bool shared_expected =
        shared_memory && groups.ep().size() > 1 && node_shared_memory(*groups.ep().data) != nullptr;
    EXPECT_EQ(dispatcher.transport_name() == std::string("shared_memory"), shared_expected) << tag;
    test::expect_close(out, hidden, 1e-6, tag + ": combine(dispatch(x))");
    auto g = test::seeded_randn({num_tokens, kHidden}, 99 + groups.rank()).to(dtype);
    (out * g).sum().backward();
    if (num_tokens > 0) test::expect_close(hidden.grad(), g, 1e-6, tag + ": gradient");
  }
}

TEST(TokenDispatcher, RoundTripIsIdentity) {
  auto world = test::world();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep);
    const int64_t num_experts = 4 * ep;
    const int64_t tokens = 16 + 3 * groups.rank();  // ranks hold different token counts
    auto scores = test::seeded_randn({tokens, num_experts}, 5 + groups.rank());
    auto ids = std::get<1>(scores.topk(kTopK, -1));
    check_round_trip(tokens, ids, num_experts, groups, "ep=" + std::to_string(ep));
  }
}

// Every token goes to experts 0 and 1: all other experts (and their ranks) receive nothing.
TEST(TokenDispatcher, ExpertsAndRanksWithZeroTokens) {
  auto world = test::world();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep);
    const int64_t num_experts = 2 * ep;
    const int64_t tokens = 6;
    auto ids = torch::tensor({int64_t(1), int64_t(0)}).repeat({tokens, 1});
    check_round_trip(tokens, ids, num_experts, groups, "skewed ep=" + std::to_string(ep));
  }
}

// Odd ranks hold no tokens at all (also in bf16, whose weighted sum takes another path).
TEST(TokenDispatcher, RanksWithNoTokens) {
  auto world = test::world();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep);
    const int64_t num_experts = 2 * ep;
    const int64_t tokens = groups.rank() % 2 == 0 ? 5 : 0;
    auto scores = test::seeded_randn({tokens, num_experts}, 21);
    auto ids = std::get<1>(scores.topk(kTopK, -1));
    check_round_trip(tokens, ids, num_experts, groups, "empty ranks ep=" + std::to_string(ep));
    check_round_trip(tokens, ids, num_experts, groups, "empty ranks bf16 ep=" + std::to_string(ep),
                     torch::kBFloat16);
  }
}

// Two forward passes before one backward (as GDiff's forget and retain batches), the second
// larger than the first (the shared block grows in between), with router weights that need a
// gradient. Identity experts: out = x * sum_k w[t, k], so d out / d x = sum_k w[t, k] and
// d <out, g> / d w[t, k] = <g[t], x[t]>, whichever transport carried the rows.
TEST(TokenDispatcher, TwoForwardsThenOneBackwardWithWeightGradients) {
  auto world = test::world();
  for (int ep : ep_sizes_for(world->size())) {
    auto groups = ProcessGroups::create(world, ep);
    const int64_t num_experts = 2 * ep;
    for (const bool shared_memory : {false, true}) {
      const std::string what = "ep=" + std::to_string(ep) + (shared_memory ? " shared" : " a2a");
      TokenDispatcher dispatcher(groups.ep(), num_experts);
      dispatcher.set_shared_memory(shared_memory);
      torch::Tensor loss = torch::zeros({});
      std::vector<torch::Tensor> inputs, weights, probes;
      for (const int64_t tokens : {int64_t(3), int64_t(40 + groups.rank())}) {
        const uint64_t seed = 100 * tokens + groups.rank();
        auto x = test::seeded_randn({tokens, kHidden}, seed).requires_grad_();
        auto w = test::seeded_randn({tokens, kTopK}, seed + 1).abs().requires_grad_();
        auto g = test::seeded_randn({tokens, kHidden}, seed + 2);
        auto ids = std::get<1>(test::seeded_randn({tokens, num_experts}, seed + 3).topk(kTopK, -1));
        auto [rows, plan] = dispatcher.dispatch(x, ids);
        auto out = dispatcher.combine(rows, plan, w, /*differentiable=*/true);  // [T, H]
        test::expect_close(out, x * w.sum(1, true), 1e-6, what + ": forward");
        loss = loss + (out * g).sum();
        inputs.push_back(x);
        weights.push_back(w);
        probes.push_back(g);
      }
      loss.backward();
      for (size_t i = 0; i < inputs.size(); ++i) {
        const auto& x = inputs[i];
        test::expect_close(x.grad(), probes[i] * weights[i].sum(1, true).detach(), 1e-6,
                           what + ": input gradient");
        auto expected_w = (probes[i] * x.detach()).sum(1, true).expand({x.size(0), kTopK});
        test::expect_close(weights[i].grad(), expected_w, 1e-5, what + ": weight gradient");
      }
    }
  }
}

TEST(TokenDispatcher, CountsPerExpertAreThisRanksAssignments) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const int64_t num_experts = 4 * world->size();  // 4 local experts per rank
  TokenDispatcher dispatcher(groups.ep(), num_experts);
  auto ids =
      torch::tensor({int64_t(0), int64_t(1), int64_t(1), int64_t(num_experts - 1)}).view({2, 2});
  auto hidden = torch::zeros({2, kHidden});
  auto [rows, plan] = dispatcher.dispatch(hidden, ids);
  EXPECT_EQ(plan.tokens_per_expert[0].item<int64_t>(), 1);
  EXPECT_EQ(plan.tokens_per_expert[1].item<int64_t>(), 2);
  EXPECT_EQ(plan.tokens_per_expert[num_experts - 1].item<int64_t>(), 1);
  EXPECT_EQ(plan.tokens_per_expert.sum().item<int64_t>(), 4);
  // Rank 0 owns experts 0-3: it receives rows for experts 0 and 1 (3) from every rank, plus the
  // last expert's row when it owns all experts.
  if (groups.ep_rank() == 0) {
    EXPECT_EQ(rows.size(0), world->size() == 1 ? 4 : 3 * world->size());
  }
}

}  // namespace
}  // namespace uoe
