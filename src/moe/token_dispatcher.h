#pragma once
// All-to-all token dispatcher for expert parallelism (dropless).
//
// Notation: T tokens on this rank, K experts per token, E routed experts, P = ep_size ranks in the
// EP group, El = E / P experts per rank, H hidden size, R rows this rank receives.
//
//   dispatch: [T, H] --gather by stable sort of expert ids--> [T*K, H] (ordered by global expert)
//             --count exchange [P, El]--> --all-to-all-v--> [R, H] ordered (source rank, expert)
//             --regroup--> [R, H] ordered (local expert, source rank)
//   combine : [R, H] --un-regroup--> --reverse all-to-all-v--> [T*K, H] (sorted order)
//             --gather by unsort + weighted sum over K (fp32), one pass--> [T, H]
//
// With expert parallelism the gather, regroup and un-regroup are index lists handed to the
// exchange (Communicator::all_to_all_rows): the MPI backend sends the rows for other ranks from
// one gathered buffer, copies its own rows directly, and receives whole (source, expert) runs;
// other backends permute around it. The unsort is fused into the weighted sum.
//
// When the EP group's ranks share a node and the tokens are on the CPU, dispatch and combine go
// through node-shared memory instead (moe/shared_memory_dispatch.h): same rows, same order, same
// sums; `parallel.shared_memory_dispatch: false` keeps the all-to-all.
//
// Combining in (token, k) order makes the sum independent of the layout, so EP=1 and EP=N agree.
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "common/step_profiler.h"
#include "parallel/communicator.h"

namespace uoe {

struct SharedDispatchContext;

// How MoE layers move tokens (`parallel.overlap_dispatch`, `parallel.shared_memory_dispatch`).
// The same on every rank of the EP group; the results do not depend on them.
struct DispatchOptions {
  bool overlap_shared_experts = false;  // shared experts run while the dispatch is in flight
  bool shared_memory = true;            // node-shared memory when the EP group shares a node
};

struct DispatchPlan {
  torch::Tensor unsort_order;        // [T*K] int64: flat (token, k) index -> sorted position
  torch::Tensor ungroup_order;       // [R] int64: received position -> expert-major position
  std::vector<int64_t> send_splits;  // [P] rows sent to each rank of the EP group
  std::vector<int64_t> recv_splits;  // [P] rows received from each rank
  std::vector<int64_t> rows_per_local_expert;  // [El]
  torch::Tensor tokens_per_expert;   // [E] int64: this rank's assignments per global expert
  int64_t num_tokens = 0;
  int64_t top_k = 0;
  // Through node-shared memory only (unsort_order and ungroup_order are then left empty):
  bool through_shared_memory = false;
  torch::Tensor all_counts;   // [P, E] int64: every rank's tokens_per_expert, row s from rank s
  torch::Tensor row_origin;   // [R, 2] int64: (source rank, flat (token, k) index there) per row
  torch::Tensor choice_slot;  // [T*K, 2] int64: (owner rank, row there) per flat (token, k)
};

// The combine's weighted sum, used by both transports: out[t] = sum_k w[t * K + k] *
// table[index[t * K + k]], accumulated in fp32 (a plain sum when `weights` is undefined), one
// pass over the gathered rows. table [N, H], index [T*K] int64, weights [T*K] fp32 -> [T, H] fp32;
// differentiable with respect to table and weights.
torch::Tensor sum_rows_per_token(const torch::Tensor& table, const torch::Tensor& index,
                                 const torch::Tensor& weights, int64_t tokens, int64_t top_k);

class TokenDispatcher {
 public:
  // `ep` may be null or of size 1: then everything stays local and no collective is issued.
  TokenDispatcher(CommunicatorPtr ep, int64_t num_experts);

  // hidden [T, H], topk_ids [T, K] -> (expert input [R, H], plan). Collective over the EP group.
  // `while_in_flight` (optional) runs once, while the token exchange is in flight (see
  // all_to_all.h); it must not use the EP communicator.
  std::pair<torch::Tensor, DispatchPlan> dispatch(
      const torch::Tensor& hidden, const torch::Tensor& topk_ids,
      const std::function<void()>& while_in_flight = nullptr);

  // expert_output [R, H], topk_weights [T, K] -> [T, H] in the dtype of expert_output.
  // `differentiable` must be the same on every rank of the EP group (see all_to_all.h).
  torch::Tensor combine(const torch::Tensor& expert_output, const DispatchPlan& plan,
                        const torch::Tensor& topk_weights, bool differentiable);
  // The same with the expert output given in parts whose concatenation is [R, H]
  // (ExpertBank::forward_parts): they are concatenated straight into the send buffer, which
  // through shared memory is the shared block itself.
  torch::Tensor combine(const std::vector<torch::Tensor>& expert_output_parts,
                        const DispatchPlan& plan, const torch::Tensor& topk_weights,
                        bool differentiable);

  // Phases, bytes and backward exchange of this dispatcher go to `profiler` (null = none) under
  // `layer`. The profiler must outlive every graph built while it is set.
  void set_profiler(StepProfiler* profiler, int layer) {
    profiler_ = profiler;
    layer_ = layer;
  }

  // Node-shared memory when the EP group's ranks share a node (default on); the same on every
  // rank of the group. Off: always the all-to-all exchange.
  void set_shared_memory(bool on) { shared_memory_ = on; }

  int64_t num_local_experts() const { return num_local_experts_; }
  int64_t first_local_expert() const { return first_local_expert_; }

 private:
  SharedDispatchContext shared_context() const;

  CommunicatorPtr ep_;
  int64_t num_experts_;
  int64_t ep_size_;
  int64_t num_local_experts_;
  int64_t first_local_expert_;
  StepProfiler* profiler_ = nullptr;
  int layer_ = StepProfiler::kNoLayer;
  bool shared_memory_ = true;
};

}  // namespace uoe
