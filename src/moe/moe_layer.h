#pragma once
// Mixture-of-Experts feed-forward layer with expert parallelism:
// route -> dispatch (all-to-all) -> local experts -> combine (reverse all-to-all), plus optional
// shared experts (always on, optionally gated by sigmoid(w . h) as in Qwen1.5-MoE).
// Notation: T tokens, H hidden, E routed experts, K experts per token.
#include <torch/torch.h>

#include "moe/expert_bank.h"
#include "moe/router.h"
#include "moe/swiglu.h"
#include "moe/token_dispatcher.h"

namespace uoe {

struct MoELayerOptions {
  RouterOptions router;                  // hidden_size, num_experts, top_k, routing rule
  int64_t expert_intermediate_size = 0;  // F of each routed expert
  int64_t shared_intermediate_size = 0;  // F of the shared expert block; 0 = none
  bool shared_expert_gate = false;       // Qwen-style sigmoid gate on the shared expert output
};

struct MoEOutput {
  torch::Tensor hidden;             // [T, H]
  RouterOutput routing;             // probs [T, E], topk_ids [T, K], topk_weights [T, K]
  torch::Tensor tokens_per_expert;  // [E] int64: this rank's top-K assignments per expert
};

class MoELayerImpl : public torch::nn::Module {
 public:
  // `ep` is the EP group (undefined = no expert parallelism); experts are split evenly over it.
  // Parameters unset (moe/linear.h), on parameter_options' device and in its dtype.
  MoELayerImpl(const MoELayerOptions& options, ProcessGroup ep,
               const torch::TensorOptions& parameter_options = {});

  // hidden [T, H] -> MoEOutput. Collective over the EP group. `record` (recomputation,
  // moe/dispatch_transport.h): a first run keeps its routing and exchanges there; a replay routes
  // the same tokens the same way (checked) and takes the exchanged rows from there, so it issues
  // no collective and reports no tokens per expert.
  MoEOutput forward(const torch::Tensor& hidden, ExchangeRecord* record = nullptr);

  const MoELayerOptions& options() const { return options_; }

  // Reports router, dispatcher, expert and shared-expert phases, bytes and tokens per expert to
  // `profiler` (null = none) as layer `layer`.
  void set_profiler(StepProfiler* profiler, int layer);
  // How tokens move (token_dispatcher.h). Same result either way.
  void set_dispatch_options(const DispatchOptions& options);

  Router gate{nullptr};
  ExpertBank experts{nullptr};
  SwiGLU shared_experts{nullptr};      // optional
  Linear shared_expert_gate{nullptr};  // optional, [1, H]

 private:
  MoELayerOptions options_;
  TokenDispatcher dispatcher_;
  StepProfiler* profiler_ = nullptr;
  int layer_ = StepProfiler::kNoLayer;
  bool overlap_shared_experts_ = false;
};
TORCH_MODULE(MoELayer);

}  // namespace uoe
