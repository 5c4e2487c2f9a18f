#pragma once
// How a TokenDispatcher moves tokens to the ranks that hold their experts and back: one interface
// with two phases, implemented by each transport (moe/all_to_all_dispatch.h: no exchange or an
// all-to-all-v over the EP group's communicator; moe/shared_memory_dispatch.h: node-shared
// memory). The dispatcher routes, sorts and counts; a transport only moves rows, and keeps what
// its combine needs in a plan of its own type.
//
// Notation as in token_dispatcher.h: T tokens on this rank, K experts per token, E routed experts,
// P ranks in the EP group, El = E / P experts per rank, H hidden size, R rows this rank receives.
//
//   dispatch: hidden [T, H] + the stable sort of the choices by expert -> expert input [R, H]
//             ordered (local expert, source rank, source's sorted order). Communication may
//             happen here; `while_in_flight` runs once while the rows move.
//   combine : the experts' output [R, H] (in parts) -> [T, H], each token's K rows summed with
//             the router weights in fp32, in (token, k) order. Communication may happen here.
//
// Both phases are collective over the EP group (the same calls on every rank, also with no rows)
// and differentiable; their backward passes are collective too.
//
// Recomputation (model/recompute.h) runs a MoE layer's forward twice: first without autograd,
// then again in backward with autograd. An ExchangeRecord carries what the first run's phases
// delivered to the second, which replays them: no communication, the kept result, and the same
// backward node as a plain forward would attach. So each rank runs the same collectives in the
// same order as without recomputation:
//   forward   : count exchange, dispatch exchange, combine exchange (as without recomputation)
//   recompute : none (replayed from the record)
//   backward  : reverse combine exchange, reverse dispatch exchange (the replayed nodes)
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "common/check.h"
#include "common/step_profiler.h"

namespace uoe {

// What one transport keeps between its dispatch and its combine (and their backward passes).
class TransportPlan {
 public:
  virtual ~TransportPlan() = default;
};

// The result of one dispatch, transport-neutral: what the MoE layer and the combine read.
struct DispatchPlan {
  torch::Tensor tokens_per_expert;                 // [E] int64: this rank's assignments per expert
  std::vector<int64_t> rows_per_local_expert;      // [El]
  std::vector<int64_t> send_splits;                // [P] rows sent to each rank of the EP group
  std::vector<int64_t> recv_splits;                // [P] rows received from each rank
  int64_t num_tokens = 0;                          // T
  int64_t top_k = 0;                               // K
  std::shared_ptr<const TransportPlan> transport;  // read only by the transport that made it
};

// What one MoE forward's exchanges delivered, kept for its recomputation. The first run (`replay`
// false) fills it; the second (`replay` true) reads it.
struct ExchangeRecord {
  bool replay = false;
  torch::Tensor topk_ids;    // [T, K] the routing of the first run
  DispatchPlan plan;         // the first run's dispatch plan
  torch::Tensor dispatched;  // what the dispatch delivered, in the transport's own form
  torch::Tensor combined;    // what the combine's exchange delivered, in the transport's own form
};

// Whether this run replays `record` (null: not recomputed).
inline bool replaying(const ExchangeRecord* record) { return record != nullptr && record->replay; }

class DispatchTransport {
 public:
  virtual ~DispatchTransport() = default;

  // "local", "all_to_all" or "shared_memory" (benchmarks and tests).
  virtual const char* name() const = 0;

  // hidden [T, H]; sort_order [T*K] int64 (sorted position -> flat (token, k) index, stable by
  // expert); `plan` arrives with tokens_per_expert, num_tokens and top_k set, and leaves with the
  // rest. Returns the expert input [R, H].
  // `record` (null = none): the first run of a recomputed layer keeps there what its replay
  // needs; in the replay (`record->replay`) `plan` is the kept one, `sort_order` is undefined and
  // nothing is communicated.
  virtual torch::Tensor dispatch(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                                 DispatchPlan& plan, const std::function<void()>& while_in_flight,
                                 ExchangeRecord* record) = 0;

  // Expert output in parts whose concatenation is [R, H], topk_weights [T, K] -> [T, H] in the
  // dtype of the expert output. `differentiable` is the same on every rank of the EP group.
  // `record` as for dispatch.
  virtual torch::Tensor combine(const std::vector<torch::Tensor>& expert_output_parts,
                                const DispatchPlan& plan, const torch::Tensor& topk_weights,
                                bool differentiable, ExchangeRecord* record) = 0;

  // Phases and bytes go to `profiler` (null = none) under `layer`.
  void set_profiler(StepProfiler* profiler, int layer) {
    profiler_ = profiler;
    layer_ = layer;
  }

 protected:
  // The transport's own plan inside `plan` (made by this transport's dispatch).
  template <typename Plan>
  static std::shared_ptr<const Plan> own_plan(const DispatchPlan& plan) {
    auto mine = std::dynamic_pointer_cast<const Plan>(plan.transport);
    UOE_ASSERT(mine != nullptr, "combine: the plan comes from another transport");
    return mine;
  }

  StepProfiler* profiler_ = nullptr;
  int layer_ = StepProfiler::kNoLayer;
};

// The combine's weighted sum, used by every transport: out[t] = sum_k w[t * K + k] *
// table[index[t * K + k]], accumulated in fp32 (a plain sum when `weights` is undefined), one
// pass over the gathered rows. table [N, H], index [T*K] int64, weights [T*K] fp32 -> [T, H] fp32;
// differentiable with respect to table and weights.
torch::Tensor sum_rows_per_token(const torch::Tensor& table, const torch::Tensor& index,
                                 const torch::Tensor& weights, int64_t tokens, int64_t top_k);

}  // namespace uoe
