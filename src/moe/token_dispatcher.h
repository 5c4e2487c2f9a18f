#pragma once
// Token dispatcher for expert parallelism (dropless): routes, sorts and counts this rank's
// tokens, and moves them with one transport (moe/dispatch_transport.h), picked once.
//
// Notation: T tokens on this rank, K experts per token, E routed experts, P = ep_size ranks in the
// EP group, El = E / P experts per rank, H hidden size, R rows this rank receives.
//
//   dispatch: [T, H] --stable sort of the expert ids, counts per expert [E]-->
//             --transport dispatch--> [R, H] ordered (local expert, source rank, source's order)
//   combine : [R, H] --transport combine--> [T, H]: each token's K rows, weighted sum (fp32)
//
// Transports: "local" when the EP group has one rank (no exchange); "shared_memory" when the EP
// group's ranks share a node and its communicator provides node-shared memory (MPI) and the
// tokens are on the CPU (moe/shared_memory_dispatch.h); "all_to_all" otherwise, or with
// `parallel.shared_memory_dispatch: false` (moe/all_to_all_dispatch.h). Same rows, same order,
// same sums whichever moves them.
//
// Combining in (token, k) order makes the sum independent of the layout, so EP=1 and EP=N agree.
//
// Host synchronisations on a GPU: routing, the sort and the counts per expert run on the device;
// the one device-to-host copy per MoE layer and forward pass is the counts [E] in dispatch (it
// waits for the router and the sort), because the exchange sizes and the experts' row counts are
// host numbers. Everything after it only sends host numbers to the device (index lists, the grouped
// GEMM's offsets: pinned memory, asynchronous), and the count exchange runs on the control channel
// (MPI, CPU tensors). So one per layer and forward pass; none in the backward pass (reverse
// exchanges reuse the forward's sizes; the grouped GEMM's backward is device-only where ExpertBank
// picks it, see moe/expert_bank.h); none in a recomputation (the replay takes the plan from its
// ExchangeRecord, and its routing check runs on the device). Not counted here: the MPI backend's
// host staging of CUDA rows (parallel/); the step's other waits are listed in
// docs/architecture.md ("Experts and dispatch on a GPU").
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "common/step_profiler.h"
#include "moe/dispatch_transport.h"
#include "parallel/process_groups.h"

namespace uoe {

// How MoE layers move tokens (`parallel.overlap_dispatch`, `parallel.shared_memory_dispatch`).
// The same on every rank of the EP group; the results do not depend on them.
struct DispatchOptions {
  bool overlap_shared_experts = false;  // shared experts run while the dispatch is in flight
  bool shared_memory = true;            // node-shared memory when the EP group shares a node
};

class TokenDispatcher {
 public:
  // `ep` may be undefined or of size 1: then everything stays local and no collective is issued.
  // Counts go on its control channel, tokens on its data channel (parallel/process_groups.h).
  TokenDispatcher(ProcessGroup ep, int64_t num_experts);

  // hidden [T, H], topk_ids [T, K] -> (expert input [R, H], plan). Collective over the EP group
  // (the first call picks the transport, which may probe node-shared memory collectively).
  // `while_in_flight` (optional) runs once, while the tokens move (see all_to_all.h); it must not
  // use the EP communicator. `record` (recomputation, dispatch_transport.h): a first run keeps the
  // plan and what moved there; a replay takes them from there, topk_ids unused, and communicates
  // nothing.
  std::pair<torch::Tensor, DispatchPlan> dispatch(
      const torch::Tensor& hidden, const torch::Tensor& topk_ids,
      const std::function<void()>& while_in_flight = nullptr, ExchangeRecord* record = nullptr);

  // expert_output [R, H], topk_weights [T, K] -> [T, H] in the dtype of expert_output.
  // `differentiable` must be the same on every rank of the EP group (see all_to_all.h).
  torch::Tensor combine(const torch::Tensor& expert_output, const DispatchPlan& plan,
                        const torch::Tensor& topk_weights, bool differentiable);
  // The same with the expert output given in parts whose concatenation is [R, H]
  // (ExpertBank::forward_parts): they are concatenated straight into the send buffer, which
  // through shared memory is the shared block itself. `record` as for dispatch.
  torch::Tensor combine(const std::vector<torch::Tensor>& expert_output_parts,
                        const DispatchPlan& plan, const torch::Tensor& topk_weights,
                        bool differentiable, ExchangeRecord* record = nullptr);

  // Phases, bytes and backward exchange of this dispatcher go to `profiler` (null = none) under
  // `layer`. The profiler must outlive every graph built while it is set.
  void set_profiler(StepProfiler* profiler, int layer);

  // Node-shared memory when the EP group's ranks share a node (default on); the same on every
  // rank of the group. Off: always the all-to-all exchange. Picks the transport again.
  void set_shared_memory(bool on);

  // The transport's name (DispatchTransport::name); picked by the first dispatch.
  const char* transport_name() const;

  int64_t num_local_experts() const { return num_local_experts_; }
  int64_t first_local_expert() const { return first_local_expert_; }

 private:
  DispatchTransport& transport(const torch::Tensor& hidden);

  ProcessGroup ep_;
  int64_t num_experts_;
  int64_t ep_size_;
  int64_t num_local_experts_;
  int64_t first_local_expert_;
  StepProfiler* profiler_ = nullptr;
  int layer_ = StepProfiler::kNoLayer;
  bool shared_memory_ = true;
  std::unique_ptr<DispatchTransport> transport_;  // null until the first dispatch
};

}  // namespace uoe
