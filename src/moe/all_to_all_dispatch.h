#pragma once
// The transports that move tokens by the EP group's communicator (moe/dispatch_transport.h).
//
//   LocalTransport (EP group of one rank): no exchange; dispatch gathers [T, H] into the sorted
//     order [T*K, H], combine sums each token's K rows from there.
//   AllToAllTransport:
//     dispatch: --count exchange [P, El]--> --all-to-all-v--> [R, H] ordered (source rank,
//               expert) --regroup--> [R, H] ordered (local expert, source rank)
//     combine : [R, H] --un-regroup--> --reverse all-to-all-v--> [T*K, H] (sorted order)
//               --gather by unsort + weighted sum over K (fp32), one pass--> [T, H]
//
// The gather, regroup and un-regroup are index lists handed to the exchange
// (Communicator::all_to_all_rows): the MPI backend sends the rows for other ranks from one
// gathered buffer, copies its own rows directly, and receives whole (source, expert) runs; other
// backends permute around it. The unsort is fused into the weighted sum.
//
// Recomputation (ExchangeRecord): LocalTransport keeps nothing (it communicates nothing, so its
// replay recomputes the gather from the kept plan); AllToAllTransport keeps the rows each of its
// two exchanges received, [R, H] and [T*K, H].
#include "moe/dispatch_transport.h"
#include "parallel/process_groups.h"

namespace uoe {

// Plan of LocalTransport.
struct LocalPlan : TransportPlan {
  torch::Tensor unsort_order;  // [T*K] int64: flat (token, k) index -> sorted position
  torch::Tensor token_of_row;  // [T*K] int64: sorted position -> token
};

// Plan of AllToAllTransport.
struct AllToAllPlan : TransportPlan {
  torch::Tensor unsort_order;   // [T*K] int64: flat (token, k) index -> sorted position
  torch::Tensor token_of_row;   // [T*K] int64: sorted position -> token (the rows sent)
  torch::Tensor ungroup_order;  // [R] int64: received position -> expert-major position
};

class LocalTransport final : public DispatchTransport {
 public:
  const char* name() const override { return "local"; }
  torch::Tensor dispatch(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                         DispatchPlan& plan, const std::function<void()>& while_in_flight,
                         ExchangeRecord* record) override;
  torch::Tensor combine(const std::vector<torch::Tensor>& parts, const DispatchPlan& plan,
                        const torch::Tensor& topk_weights, bool differentiable,
                        ExchangeRecord* record) override;
};

class AllToAllTransport final : public DispatchTransport {
 public:
  // `ep`: the EP group (more than one rank): counts go on its control channel, rows on its data
  // channel (parallel/process_groups.h).
  AllToAllTransport(ProcessGroup ep, int64_t num_experts);
  const char* name() const override { return "all_to_all"; }
  torch::Tensor dispatch(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                         DispatchPlan& plan, const std::function<void()>& while_in_flight,
                         ExchangeRecord* record) override;
  torch::Tensor combine(const std::vector<torch::Tensor>& parts, const DispatchPlan& plan,
                        const torch::Tensor& topk_weights, bool differentiable,
                        ExchangeRecord* record) override;

 private:
  // The plan of a first run: sort bookkeeping and the count exchange (collective).
  void make_plan(const torch::Tensor& hidden, const torch::Tensor& sort_order, DispatchPlan& plan);

  ProcessGroup ep_;
  int64_t ep_size_;
  int64_t num_local_experts_;
};

}  // namespace uoe
