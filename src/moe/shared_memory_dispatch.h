#pragma once
// Token dispatch and combine through memory shared by the EP group's ranks on one node
// (parallel/node_shared_memory.h), instead of two all-to-all exchanges: a DispatchTransport
// (moe/dispatch_transport.h), chosen by the TokenDispatcher when the EP group's ranks share a node
// and the tokens are on the CPU.
//
// Notation as in token_dispatcher.h: T tokens on this rank, K choices per token, E experts,
// P ranks, El = E / P experts per rank, R rows this rank's experts receive, H hidden size.
//
//   dispatch: every rank writes its tokens [T, H] and its choices in expert order [T*K] into its
//             slots of the shared block; after a fence each rank gathers the rows of its experts
//             straight from the other ranks' slots into its expert input [R, H], in the order the
//             expert bank wants (local expert, then source rank, then the source's sorted order).
//             The counts [P, E] travel by one small all_gather, so every rank knows every slot.
//   combine : every rank writes its experts' output [R, H] into its slot; after a fence each rank
//             gathers the K rows of each of its tokens from the owners' slots and sums them with
//             the router weights (fp32) in one pass.
//   backward: the same moves in reverse: output gradients and weights are written and gathered
//             by the experts' owners (who also form the router-weight gradients), expert-input
//             gradients are written and summed per token by their sources.
//
// Each phase keeps nothing in the block after it: what a backward pass needs is saved privately,
// so any number of forward passes may precede it. Rows move once per direction, as in a raw
// all-to-all, with the gather or the weighted sum done in the same pass. Recomputation
// (ExchangeRecord) keeps the expert input [R, H] and the combined sums [T, H] of the first run;
// the replay touches no shared memory, so the phases keep the order below.
//
// Ordering rule (no fence ends a phase): a phase may write a region before its first fence only
// if every earlier reader of that region has passed a fence or a collective since. Each region
// keeps its place until it grows (NodeSharedMemory::reserve), and the phases come in the orders
// autograd gives them (dispatch -> combine forward; combine backward -> dispatch backward), where
// each one writes only regions whose last readers are separated from it that way:
//   dispatch          writes tokens, choices  (after the counts all_gather)
//   combine           writes rows
//   combine backward  writes tokens, weights; after its first fence, row scalars
//   dispatch backward writes rows
#include "moe/dispatch_transport.h"
#include "parallel/process_groups.h"

namespace uoe {

class NodeSharedMemory;
struct SharedDispatchContext;

// Plan of SharedMemoryTransport.
struct SharedMemoryPlan : TransportPlan {
  torch::Tensor all_counts;   // [P, E] int64: every rank's tokens_per_expert, row s from rank s
  torch::Tensor row_origin;   // [R, 2] int64: (source rank, flat (token, k) index there) per row
  torch::Tensor choice_slot;  // [T*K, 2] int64: (owner rank, row there) per flat (token, k)
};

class SharedMemoryTransport final : public DispatchTransport {
 public:
  const char* name() const override { return "shared_memory"; }
  // `ep`: the EP group, whose ranks share a node; `memory`: the node-shared memory of its data
  // channel (parallel/mpi_communicator.h), owned by that communicator, which backward passes keep
  // alive. The counts [P, E] travel by one all_gather on the control channel. Tokens must be on
  // the CPU.
  SharedMemoryTransport(ProcessGroup ep, NodeSharedMemory& memory, int64_t num_experts);
  torch::Tensor dispatch(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                         DispatchPlan& plan, const std::function<void()>& while_in_flight,
                         ExchangeRecord* record) override;
  // The expert output parts are concatenated straight into this rank's row slot.
  torch::Tensor combine(const std::vector<torch::Tensor>& parts, const DispatchPlan& plan,
                        const torch::Tensor& topk_weights, bool differentiable,
                        ExchangeRecord* record) override;

 private:
  SharedDispatchContext context(const DispatchPlan& plan) const;
  // The dispatch of a first run (counts all_gather, fences): makes the plan, returns [R, H].
  torch::Tensor exchange_tokens(const torch::Tensor& hidden, const torch::Tensor& sort_order,
                                DispatchPlan& plan, const std::function<void()>& while_in_flight);

  ProcessGroup ep_;
  NodeSharedMemory* memory_;
  int64_t num_experts_;
};

}  // namespace uoe
