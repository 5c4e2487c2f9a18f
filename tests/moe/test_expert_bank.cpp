// ExpertBank's grouped-GEMM forward (at::_grouped_mm over the frozen experts, trainable ones in the
// loop) against its per-expert loop and an fp64 formula: outputs, input gradients, the trainable
// expert's weight gradients, no gradient for frozen experts; the stacked weights follow in-place
// updates and new storage of the parameters.
#include <torch/version.h>

#include "moe/expert_bank.h"
#include "test_utils.h"

namespace uoe {
namespace {

constexpr int64_t kHidden = 32, kFfn = 24, kExperts = 4, kFirst = 8;  // global ids 8..11
// fp32: grouped and loop run the same per-expert products through other BLAS calls; measured
// here (LibTorch 2.11, CPU) at most 3e-8 relative to the largest value, 3e-7 against the fp64
// formula. The bound leaves room for other kernels.
constexpr double kFp32Tolerance = 1e-5;
// bf16 (8-bit mantissa, rounding after each projection): measured equal on the CPU; on a GPU the
// grouped kernel accumulates in another order, so a few bf16 steps of the largest value.
constexpr double kBf16Tolerance = 2e-2;

#define SKIP_WITHOUT_GROUPED_MM()                \
  if (!ExpertBankImpl::grouped_gemm_available()) \
  GTEST_SKIP() << "LibTorch " << TORCH_VERSION   \
               << " has no at::_grouped_mm (2.8 or later): the grouped path is not built"

// The same seeded weights whatever the mode.
ExpertBank make_bank(GroupedGemm mode, torch::ScalarType dtype, const torch::Device& device) {
  ExpertBankOptions o;
  o.hidden_size = kHidden;
  o.intermediate_size = kFfn;
  o.first_expert = kFirst;
  o.num_local_experts = kExperts;
  ExpertBank bank(o);
  uint64_t seed = 11;
  {
    const torch::NoGradGuard no_grad;
    for (auto& p : bank->parameters()) p.copy_(test::seeded_randn(p.sizes(), seed++, 0.2));
  }
  bank->to(device, dtype);
  bank->set_grouped_gemm(mode);
  return bank;
}

struct Run {
  torch::Tensor output, input_grad;
  std::map<std::string, torch::Tensor> grads;  // parameter name -> grad (undefined: none)
};

Run run(ExpertBank& bank, const std::vector<int64_t>& counts, const std::vector<int64_t>& trainable,
        torch::ScalarType dtype, const torch::Device& device) {
  bank->set_trainable_experts(trainable);
  int64_t rows = 0;
  for (int64_t n : counts) rows += n;
  auto x = test::seeded_randn({rows, kHidden}, 5).to(device, dtype).requires_grad_();
  const auto probe = test::seeded_randn({rows, kHidden}, 6).to(device, dtype);
  const auto out = bank->forward(x, counts);
  (out * probe).sum().backward();
  Run r{out.detach().cpu().to(torch::kFloat32), x.grad().cpu().to(torch::kFloat32), {}};
  for (const auto& p : bank->named_parameters()) {
    r.grads[p.key()] =
        p.value().grad().defined() ? p.value().grad().cpu().to(torch::kFloat32) : torch::Tensor();
  }
  return r;
}

// fp64 SwiGLU of each expert's rows with the bank's weights.
torch::Tensor formula(ExpertBank& bank, const std::vector<int64_t>& counts) {
  int64_t rows = 0;
  for (int64_t n : counts) rows += n;
  const auto x = test::seeded_randn({rows, kHidden}, 5).to(torch::kFloat64);
  std::vector<torch::Tensor> outs;
  int64_t start = 0;
  for (int64_t e = 0; e < kExperts; ++e) {
    auto& expert = bank->expert(kFirst + e);
    const auto w = [](const Linear& l) { return l->weight.detach().cpu().to(torch::kFloat64); };
    const auto xe = x.narrow(0, start, counts[e]);
    outs.push_back(torch::matmul(torch::silu(torch::matmul(xe, w(expert->gate_proj).t())) *
                                     torch::matmul(xe, w(expert->up_proj).t()),
                                 w(expert->down_proj).t()));
    start += counts[e];
  }
  return torch::cat(outs, 0);
}

void expect_same_run(const Run& grouped, const Run& loop, const std::vector<int64_t>& trainable,
                     double tolerance, const std::string& what) {
  test::expect_close(grouped.output, loop.output, tolerance, what + " output");
  test::expect_close(grouped.input_grad, loop.input_grad, tolerance, what + " input grad");
  for (const auto& [name, grad] : loop.grads) {
    const int64_t id = std::stoll(name.substr(0, name.find('.')));
    const bool is_trainable = std::find(trainable.begin(), trainable.end(), id) != trainable.end();
    const auto& got = grouped.grads.at(name);
    if (!is_trainable) {
      EXPECT_FALSE(got.defined()) << what << ": frozen " << name << " has a gradient";
      continue;
    }
    ASSERT_EQ(got.defined(), grad.defined()) << what << " " << name;
    if (grad.defined()) test::expect_close(got, grad, tolerance, what + " grad " + name);
  }
}

// Row counts with an empty expert; trainable sets: one in the middle (two frozen runs), one at the
// start, one with no rows, none, all.
const std::vector<int64_t> kCounts = {5, 0, 7, 4};
const std::vector<std::vector<int64_t>> kTrainableSets = {{10}, {8}, {9}, {}, {8, 9, 10, 11}};

void check_parity(torch::ScalarType dtype, const torch::Device& device, double tolerance,
                  const std::string& tag) {
  for (const auto& trainable : kTrainableSets) {
    auto grouped = make_bank(GroupedGemm::kOn, dtype, device);
    auto loop = make_bank(GroupedGemm::kOff, dtype, device);
    ASSERT_TRUE(
        grouped->uses_grouped_gemm(torch::zeros({1, kHidden}, torch::device(device).dtype(dtype))));
    ASSERT_FALSE(
        loop->uses_grouped_gemm(torch::zeros({1, kHidden}, torch::device(device).dtype(dtype))));
    const auto g = run(grouped, kCounts, trainable, dtype, device);
    const auto l = run(loop, kCounts, trainable, dtype, device);
    std::string what = tag + " trainable {";
    for (int64_t id : trainable) what += std::to_string(id) + " ";
    expect_same_run(g, l, trainable, tolerance, what + "}");
    if (dtype == torch::kFloat32) {
      test::expect_close(g.output, formula(grouped, kCounts), tolerance, what + "} vs formula");
    }
  }
}

TEST(ExpertBankGrouped, MatchesLoopFp32) {
  SKIP_WITHOUT_GROUPED_MM();
  check_parity(torch::kFloat32, torch::kCPU, kFp32Tolerance, "fp32 cpu");
}

TEST(ExpertBankGrouped, MatchesLoopBf16) {
  SKIP_WITHOUT_GROUPED_MM();
  check_parity(torch::kBFloat16, torch::kCPU, kBf16Tolerance, "bf16 cpu");
}

// Without grad mode (attribution, evaluation) a trainable expert runs grouped with the others: one
// frozen run covers every row, and the output is still the formula's.
TEST(ExpertBankGrouped, NoGradModeGroupsTrainableExpertsToo) {
  SKIP_WITHOUT_GROUPED_MM();
  auto bank = make_bank(GroupedGemm::kOn, torch::kFloat32, torch::kCPU);
  bank->set_trainable_experts({10});
  const auto x = test::seeded_randn({16, kHidden}, 5);  // the rows formula() uses
  const torch::NoGradGuard no_grad;
  const auto parts = bank->forward_parts(x, kCounts);
  ASSERT_EQ(parts.size(), 1u) << "expected one grouped run over all experts";
  test::expect_close(parts[0], formula(bank, kCounts), kFp32Tolerance,
                     "no-grad grouped vs formula");
}

TEST(ExpertBankGrouped, AutoIsTheLoopOnCpu) {
  auto bank = make_bank(GroupedGemm::kAuto, torch::kBFloat16, torch::kCPU);
  EXPECT_FALSE(bank->uses_grouped_gemm(torch::zeros({1, kHidden}, torch::kBFloat16)));
  EXPECT_FALSE(bank->uses_grouped_gemm(torch::zeros({1, kHidden})));
  if (!ExpertBankImpl::grouped_gemm_available()) {
    EXPECT_THROW(bank->set_grouped_gemm(GroupedGemm::kOn), InputError);
  }
}

// The parameters are slices of the stacks: an in-place update (the optimizer's) reaches the next
// grouped forward, and parameters given new storage (Module::to) are stacked again.
TEST(ExpertBankGrouped, StacksFollowTheParameters) {
  SKIP_WITHOUT_GROUPED_MM();
  auto grouped = make_bank(GroupedGemm::kOn, torch::kFloat32, torch::kCPU);
  auto loop = make_bank(GroupedGemm::kOff, torch::kFloat32, torch::kCPU);
  run(grouped, kCounts, {}, torch::kFloat32, torch::kCPU);  // builds the stacks
  const auto bump = [](ExpertBank& bank) {
    const torch::NoGradGuard no_grad;
    bank->expert(kFirst + 2)->up_proj->weight.mul_(1.5);
  };
  bump(grouped);
  bump(loop);
  expect_same_run(run(grouped, kCounts, {}, torch::kFloat32, torch::kCPU),
                  run(loop, kCounts, {}, torch::kFloat32, torch::kCPU), {}, kFp32Tolerance,
                  "after an in-place update");
  grouped->to(torch::kFloat64);
  grouped->to(torch::kFloat32);  // new storage for every parameter, then changed there
  bump(grouped);
  bump(loop);
  expect_same_run(run(grouped, kCounts, {9}, torch::kFloat32, torch::kCPU),
                  run(loop, kCounts, {9}, torch::kFloat32, torch::kCPU), {9}, kFp32Tolerance,
                  "after Module::to");
}

// An expanded output gradient (out.sum()) and a bank with no rows at all.
TEST(ExpertBankGrouped, ExpandedGradientAndNoRows) {
  SKIP_WITHOUT_GROUPED_MM();
  auto bank = make_bank(GroupedGemm::kOn, torch::kFloat32, torch::kCPU);
  bank->set_trainable_experts({});
  auto x = test::seeded_randn({16, kHidden}, 5).requires_grad_();
  bank->forward(x, kCounts).sum().backward();
  auto reference = make_bank(GroupedGemm::kOff, torch::kFloat32, torch::kCPU);
  reference->set_trainable_experts({});
  auto y = x.detach().clone().requires_grad_();
  reference->forward(y, kCounts).sum().backward();
  test::expect_close(x.grad(), y.grad(), kFp32Tolerance, "input grad of out.sum()");

  auto none = torch::zeros({0, kHidden}).requires_grad_();
  const auto parts = bank->forward_parts(none, {0, 0, 0, 0});
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].size(0), 0);
  EXPECT_TRUE(parts[0].requires_grad());
}

// On a GPU: grouped (kAuto picks it on sm90/sm100 in bf16) against the loop on the same GPU, and
// the fp32 grouped path (ATen's own per-expert fallback on CUDA) against the CPU loop.
TEST(ExpertBankGrouped, MatchesLoopCuda) {
  SKIP_WITHOUT_GROUPED_MM();
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  const auto device = test::cuda_device();
  check_parity(torch::kBFloat16, device, kBf16Tolerance, "bf16 cuda");
  check_parity(torch::kFloat32, device, 1e-4, "fp32 cuda");  // TF32-free fp32 GEMMs, other order
  auto cpu = make_bank(GroupedGemm::kOff, torch::kFloat32, torch::kCPU);
  auto gpu = make_bank(GroupedGemm::kOn, torch::kFloat32, device);
  expect_same_run(run(gpu, kCounts, {10}, torch::kFloat32, device),
                  run(cpu, kCounts, {10}, torch::kFloat32, torch::kCPU), {10}, 1e-4, "cuda vs cpu");
}

}  // namespace
}  // namespace uoe
