#pragma once
// The routed experts this rank owns: E / ep_size SwiGLU experts with contiguous global ids
// [first_expert, first_expert + num_local_experts). Submodules are named by global id
// ("experts.<id>.gate_proj.weight"), so names do not depend on the layout.
//
// Two ways to run them, same rows in, same output out (up to the order of float sums):
//   loop   : one SwiGLU call per local expert with rows (three matmuls each).
//   grouped: the frozen experts in three at::_grouped_mm calls, one per projection (gate, up,
//            down), over the projection's weights stacked [El, out, in]; the trainable experts
//            still run in the loop, so weight gradients are computed for them only and the
//            stacks never require grad. at::_grouped_mm exists from LibTorch 2.8 on; with an
//            older LibTorch the loop is the only way.
// Which one (GroupedGemm::kAuto): grouped on CUDA with bf16 rows on compute capability 9.x or
// 10.x (where ATen has a grouped kernel: one launch per projection, no host synchronisation;
// elsewhere ATen's _grouped_mm loops over the experts itself after copying the offsets to the
// host), the loop otherwise; so the CPU keeps the loop (ATen's CPU _grouped_mm is that same
// loop of matmuls; docs/architecture.md has the timings). Tests force either way with
// set_grouped_gemm.
//
// Stacks: built on the first grouped forward, one tensor [El, out, in] per projection, and each
// expert's parameter is then pointed at its slice (Tensor::set_data): names, checkpoints and
// optimizer updates (in place) are as before, and the stack costs no memory beyond the weights.
// Building it copies one projection's El weights at a time (transient: El * F * H elements).
// Before each grouped forward the bank checks (host pointers only) that every parameter is
// still its slice; one that was given new storage (Module::to, a load that replaces tensors)
// makes the bank rebuild that stack (the old stack is freed then, not before). The grouped GEMM
// keeps the stack (no copy) for its backward. A grouped forward also copies the frozen experts'
// rows into one tensor when a trainable expert with rows sits among them ([R_frozen, H],
// transient) and sends El int32 offsets to the device (asynchronously, from pinned memory).
#include <torch/torch.h>

#include <array>
#include <vector>

#include "moe/swiglu.h"

namespace uoe {

struct ExpertBankOptions {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t first_expert = 0;
  int64_t num_local_experts = 0;
};

// How ExpertBank runs its experts (see above). kOn where the LibTorch has no _grouped_mm is an
// error.
enum class GroupedGemm { kAuto, kOn, kOff };

class ExpertBankImpl : public torch::nn::Module {
 public:
  // Parameters unset (moe/linear.h), on parameter_options' device and in its dtype.
  explicit ExpertBankImpl(const ExpertBankOptions& options,
                          const torch::TensorOptions& parameter_options = {});

  // rows [R, H] grouped by local expert (rows_per_expert[e] rows for local expert e, in order)
  // -> the output [R, H] in parts (one per expert with rows, or one per run of frozen experts on
  // the grouped path) whose concatenation is the output (TokenDispatcher::combine concatenates
  // them straight into its send buffer). Experts with no rows are skipped (their parameters get
  // no gradient). Never empty: with no rows at all it holds one [0, H] tensor that is still
  // connected to `rows` in the autograd graph, so that the backward pass reaches the dispatch on
  // this rank as on the others.
  std::vector<torch::Tensor> forward_parts(const torch::Tensor& rows,
                                           const std::vector<int64_t>& rows_per_expert);
  // The concatenated output [R, H].
  torch::Tensor forward(const torch::Tensor& rows, const std::vector<int64_t>& rows_per_expert);

  // Makes exactly the experts in `global_ids` trainable (requires_grad) and freezes the others.
  // Call it on every rank with the same list: ranks that own none of them still learn whether the
  // layer has a trainable expert anywhere, which decides the all-to-all backward (see
  // all_to_all.h).
  void set_trainable_experts(const std::vector<int64_t>& global_ids);
  bool any_expert_trainable() const { return any_trainable_; }

  // Whether this LibTorch has at::_grouped_mm (2.8 or later).
  static bool grouped_gemm_available();
  void set_grouped_gemm(GroupedGemm mode);
  // Whether a forward of `rows` takes the grouped path.
  bool uses_grouped_gemm(const torch::Tensor& rows) const;

  bool owns(int64_t global_id) const;
  SwiGLU& expert(int64_t global_id);
  const ExpertBankOptions& options() const { return options_; }

 private:
  std::vector<torch::Tensor> grouped_parts(const torch::Tensor& rows,
                                           const std::vector<torch::Tensor>& expert_rows,
                                           const std::vector<int64_t>& rows_per_expert);
  // The weights of projection `p` (0 gate, 1 up, 2 down) stacked [El, out, in], no grad; the
  // parameters are its slices (rebuilt when they are not).
  torch::Tensor stacked_weights(int p);

  ExpertBankOptions options_;
  std::vector<SwiGLU> experts_;  // local index -> expert
  bool any_trainable_ = true;
  GroupedGemm grouped_ = GroupedGemm::kAuto;
  std::array<torch::Tensor, 3> stacks_;  // per projection, undefined until a grouped forward
};
TORCH_MODULE(ExpertBank);

}  // namespace uoe
