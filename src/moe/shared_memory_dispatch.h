#pragma once
// Token dispatch and combine through memory shared by the EP group's ranks on one node
// (parallel/node_shared_memory.h), instead of two all-to-all exchanges.
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
// all-to-all, with the gather or the weighted sum done in the same pass.
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
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "common/step_profiler.h"
#include "parallel/communicator.h"
#include "parallel/node_shared_memory.h"

namespace uoe {

struct DispatchPlan;

struct SharedDispatchContext {
  CommunicatorPtr communicator;  // the EP group; owns `memory` (kept alive by backward nodes)
  NodeSharedMemory* memory = nullptr;
  int rank = 0;
  int ranks = 1;
  int64_t num_experts = 0;
  StepProfiler* profiler = nullptr;
  int layer = StepProfiler::kNoLayer;
};

// hidden [T, H]; sort_order [T*K] (sorted position -> flat (token, k) index, stable by expert);
// all_counts [P, E] (every rank's rows per expert, row s from rank s). Fills the plan's shared-
// memory fields and returns the expert input [R, H]. `while_in_flight` runs before the fence.
torch::Tensor shared_memory_dispatch(const SharedDispatchContext& context,
                                     const torch::Tensor& hidden, const torch::Tensor& sort_order,
                                     const torch::Tensor& all_counts, DispatchPlan& plan,
                                     const std::function<void()>& while_in_flight);

// expert output in parts whose concatenation is [R, H] (concatenated straight into this rank's
// row slot), topk_weights [T, K] -> [T, H] in the dtype of the expert output.
torch::Tensor shared_memory_combine(const SharedDispatchContext& context,
                                    const std::vector<torch::Tensor>& expert_output_parts,
                                    const DispatchPlan& plan, const torch::Tensor& topk_weights,
                                    bool differentiable);

}  // namespace uoe
