// EP=1 vs EP=N (with DP > 1 too): the MoE layer's outputs, input gradients, expert weight gradients
// and router gradients agree with a single-process reference over the same global tokens.
#include "model/init.h"
#include "moe/moe_layer.h"
#include "parallel/grad_sync.h"
#include "test_utils.h"

namespace uoe {
namespace {

constexpr int64_t kHidden = 32, kFfn = 24, kTokensPerRank = 24;
constexpr double kTolerance = 1e-5;
constexpr double kCudaTolerance = 1e-4;

MoELayerOptions layer_options(RouterKind kind, int64_t num_experts, bool shared) {
  MoELayerOptions o;
  o.router.hidden_size = kHidden;
  o.router.num_experts = num_experts;
  o.router.top_k = 2;
  o.router.kind = kind;
  o.router.norm_topk_prob = kind != RouterKind::kDeepSeekV2;
  o.router.routed_scaling_factor = kind == RouterKind::kSoftmax ? 1.0 : 1.5;
  if (kind != RouterKind::kSoftmax) {
    o.router.n_group = 2;
    o.router.topk_group = 1;
  }
  o.expert_intermediate_size = kFfn;
  if (shared) {
    o.shared_intermediate_size = 16;
    o.shared_expert_gate = true;
  }
  return o;
}

struct Result {
  torch::Tensor output, input_grad;
  std::map<std::string, torch::Tensor> grads;
};

// Loss = sum(out * probe) / (all tokens): a global token mean, as the trainer normalises.
Result run_layer(MoELayer& layer, const torch::Tensor& tokens, const torch::Tensor& probe,
                 int64_t global_tokens) {
  auto x = tokens.clone().requires_grad_();
  auto out = layer->forward(x);
  ((out.hidden * probe).sum() / double(global_tokens)).backward();
  Result r{out.hidden.detach(), x.grad(), {}};
  return r;
}

// The layer's output, input gradient and parameter gradients (after the gradient sync) on this
// rank's tokens [first, first + kTokensPerRank) against the single-process reference's.
void expect_matches_reference(MoELayer& layer, const Result& got, MoELayer& reference,
                              const Result& ref, int64_t first, double tolerance,
                              const std::string& tag) {
  test::expect_close(got.output.cpu(), ref.output.narrow(0, first, kTokensPerRank), tolerance,
                     tag + " output");
  test::expect_close(got.input_grad.cpu(), ref.input_grad.narrow(0, first, kTokensPerRank),
                     tolerance, tag + " input grad");
  auto ref_params = reference->named_parameters();
  int checked_experts = 0;
  for (const auto& item : layer->named_parameters()) {
    const auto& expected = ref_params[item.key()];
    ASSERT_TRUE(item.value().grad().defined()) << tag << " " << item.key();
    const auto grad = item.value().grad().cpu();
    if (!expected.grad().defined()) {
      EXPECT_EQ(grad.abs().max().item<double>(), 0.0) << tag << " " << item.key();
      continue;
    }
    test::expect_close(grad, expected.grad(), tolerance, tag + " " + item.key());
    checked_experts += item.key().rfind("experts.", 0) == 0 ? 1 : 0;
  }
  EXPECT_GT(checked_experts, 0) << tag;
}

void check_parity(RouterKind kind, bool shared, const std::string& what) {
  auto world = test::world();
  const int n = world->size();
  const int64_t global = kTokensPerRank * n;
  auto tokens = test::seeded_randn({global, kHidden}, 1);  // same on every rank
  auto probe = test::seeded_randn({global, kHidden}, 2);
  for (int ep = 1; ep <= n; ++ep) {
    if (n % ep != 0) continue;
    const int64_t num_experts = 4 * ep;  // 4 local experts per rank
    const auto options = layer_options(kind, num_experts, shared);

    MoELayer reference(options, nullptr);  // every expert, every token, one process
    initialize_parameters(*reference, 7, 0.1);
    Result ref = run_layer(reference, tokens, probe, global);

    auto groups = ProcessGroups::create(world, ep);
    // parallel.overlap_dispatch: shared experts computed while the dispatch exchange is in
    // flight; parallel.shared_memory_dispatch: tokens through node-shared memory or all-to-all.
    for (const DispatchOptions dispatch :
         {DispatchOptions{false, false}, DispatchOptions{true, false}, DispatchOptions{false, true},
          DispatchOptions{true, true}}) {
      MoELayer layer(options, groups.ep());
      layer->set_dispatch_options(dispatch);
      initialize_parameters(*layer, 7, 0.1);
      const int64_t first = groups.rank() * kTokensPerRank;
      Result got = run_layer(layer, tokens.narrow(0, first, kTokensPerRank),
                             probe.narrow(0, first, kTokensPerRank), global);
      GradientGroups params;
      for (const auto& item : layer->named_parameters()) {
        (item.key().rfind("experts.", 0) == 0 ? params.expert : params.dense)
            .push_back(item.value());
      }
      sync_gradients(params, groups);

      const std::string tag = what + " ep=" + std::to_string(ep) + " dp=" + std::to_string(n / ep) +
                              (dispatch.overlap_shared_experts ? " overlap" : "") +
                              (dispatch.shared_memory ? " shared-memory" : " all-to-all");
      expect_matches_reference(layer, got, reference, ref, first, kTolerance, tag);
    }
  }
}

// One rank per GPU with the NCCL backend, EP = world: the layer on CUDA agrees with the CPU
// reference up to the different summation orders of the CPU and GPU kernels (fp32, no TF32).
void check_cuda_parity(RouterKind kind, bool shared, const std::string& what) {
  auto nccl = test::nccl_world();
  const int n = nccl->size();
  const int64_t global = kTokensPerRank * n;
  auto tokens = test::seeded_randn({global, kHidden}, 1);
  auto probe = test::seeded_randn({global, kHidden}, 2);
  const auto options = layer_options(kind, 4 * n, shared);
  MoELayer reference(options, nullptr);
  initialize_parameters(*reference, 7, 0.1);
  Result ref = run_layer(reference, tokens, probe, global);

  const auto device = test::cuda_device();
  MoELayer layer(options, ProcessGroup(test::world(), nccl));  // counts on MPI, tokens on NCCL
  layer->set_dispatch_options({/*overlap_shared_experts=*/true, /*shared_memory=*/true});
  // (CUDA tensors: always the NCCL all-to-all; the overlap takes the side-stream start/wait path)
  initialize_parameters(*layer, 7, 0.1);
  layer->to(device);
  const int64_t first = nccl->rank() * kTokensPerRank;
  Result got = run_layer(layer, tokens.narrow(0, first, kTokensPerRank).to(device),
                         probe.narrow(0, first, kTokensPerRank).to(device), global);
  // Each expert lives on one rank; the router and shared-expert gradients sum over all of them.
  for (auto& item : layer->named_parameters()) {
    auto grad = item.value().grad();
    if (item.key().rfind("experts.", 0) != 0 && grad.defined()) nccl->all_reduce(grad);
  }
  expect_matches_reference(layer, got, reference, ref, first, kCudaTolerance,
                           what + " cuda ep=" + std::to_string(n));
}

TEST(MoELayerParity, SoftmaxRouter) { check_parity(RouterKind::kSoftmax, false, "softmax"); }
TEST(MoELayerParity, SoftmaxRouterWithGatedSharedExpert) {
  check_parity(RouterKind::kSoftmax, true, "softmax+shared");
}
TEST(MoELayerParity, DeepSeekV2GroupLimited) {
  check_parity(RouterKind::kDeepSeekV2, false, "deepseek_v2");
}
TEST(MoELayerParity, DeepSeekV3) { check_parity(RouterKind::kDeepSeekV3, true, "deepseek_v3"); }

TEST(MoELayerParity, CudaWithNcclMatchesCpu) {
  if (!test::nccl_world()) GTEST_SKIP() << "no NCCL backend in this build or no CUDA device";
  check_cuda_parity(RouterKind::kSoftmax, true, "softmax+shared");
  check_cuda_parity(RouterKind::kDeepSeekV2, false, "deepseek_v2");
  check_cuda_parity(RouterKind::kDeepSeekV3, true, "deepseek_v3");
}

// Only expert 1 is trainable (on its owner only); the rest of the layer is frozen below it. Every
// rank must still complete backward (no hang), and the trained expert's gradient must match.
TEST(MoELayerParity, SingleTrainableExpertOnItsOwner) {
  auto world = test::world();
  const int n = world->size();
  const int64_t global = kTokensPerRank * n;
  auto tokens = test::seeded_randn({global, kHidden}, 1);
  auto probe = test::seeded_randn({global, kHidden}, 2);
  const auto options = layer_options(RouterKind::kSoftmax, 4 * n, false);
  MoELayer reference(options, nullptr);
  initialize_parameters(*reference, 7, 0.1);
  for (auto& p : reference->parameters()) p.set_requires_grad(false);
  reference->experts->set_trainable_experts({1});
  reference->gate->weight.set_requires_grad(true);
  Result ref = run_layer(reference, tokens, probe, global);

  auto groups = ProcessGroups::create(world, n);
  MoELayer layer(options, groups.ep());
  initialize_parameters(*layer, 7, 0.1);
  for (auto& p : layer->parameters()) p.set_requires_grad(false);
  layer->experts->set_trainable_experts({1});
  layer->gate->weight.set_requires_grad(true);
  const int64_t first = groups.rank() * kTokensPerRank;
  auto x = tokens.narrow(0, first, kTokensPerRank);  // needs no grad: frozen below
  auto out = layer->forward(x);
  ((out.hidden * probe.narrow(0, first, kTokensPerRank)).sum() / double(global)).backward();
  GradientGroups params;
  params.dense.push_back(layer->gate->weight);
  if (layer->experts->owns(1)) {
    for (auto& p : layer->experts->expert(1)->parameters()) params.expert.push_back(p);
  }
  sync_gradients(params, groups);
  test::expect_close(layer->gate->weight.grad(), reference->gate->weight.grad(), kTolerance,
                     "router grad");
  if (layer->experts->owns(1)) {
    auto got = layer->experts->expert(1)->named_parameters();
    auto want = reference->experts->expert(1)->named_parameters();
    for (const auto& item : got) {
      test::expect_close(item.value().grad(), want[item.key()].grad(), kTolerance,
                         "expert 1 " + item.key());
    }
  }
  for (const auto& item : layer->experts->named_parameters()) {
    if (item.key().rfind("1.", 0) != 0) {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
    }
  }
}

}  // namespace
}  // namespace uoe
