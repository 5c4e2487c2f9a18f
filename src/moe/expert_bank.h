#pragma once
// The routed experts this rank owns: E / ep_size SwiGLU experts with contiguous global ids
// [first_expert, first_expert + num_local_experts). Submodules are named by global id
// ("experts.<id>.gate_proj.weight"), so names do not depend on the layout.
#include <torch/torch.h>

#include <vector>

#include "moe/swiglu.h"

namespace uoe {

struct ExpertBankOptions {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t first_expert = 0;
  int64_t num_local_experts = 0;
};

class ExpertBankImpl : public torch::nn::Module {
 public:
  explicit ExpertBankImpl(const ExpertBankOptions& options);

  // rows [R, H] grouped by local expert (rows_per_expert[e] rows for local expert e, in order)
  // -> the outputs [n_e, H] of the experts that have rows, in order; concatenated they are the
  // [R, H] output (TokenDispatcher::combine concatenates them straight into its send buffer).
  // Experts with no rows are skipped (their parameters get no gradient). Never empty: with no
  // rows at all it holds one [0, H] tensor that is still connected to `rows` in the autograd
  // graph, so that the backward pass reaches the dispatch on this rank as on the others.
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

  bool owns(int64_t global_id) const;
  SwiGLU& expert(int64_t global_id);
  const ExpertBankOptions& options() const { return options_; }

 private:
  ExpertBankOptions options_;
  std::vector<SwiGLU> experts_;  // local index -> expert
  bool any_trainable_ = true;
};
TORCH_MODULE(ExpertBank);

}  // namespace uoe
