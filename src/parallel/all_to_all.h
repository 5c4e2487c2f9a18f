#pragma once
// Differentiable all-to-all-v: the backward pass is the reverse exchange of the gradient.
#include "parallel/communicator.h"

namespace uoe {

// input [sum(input_splits), ...] -> output [sum(output_splits), ...] over `comm`.
//
// When `differentiable` is true and grad mode is on, the output always carries a backward node,
// even if `input` does not require grad on this rank. Callers pass the same `differentiable` on
// every rank of `comm`, so that all ranks run the reverse exchange in backward together (a rank
// whose expert is frozen still has to return the gradients of the tokens it received).
torch::Tensor all_to_all(const torch::Tensor& input, const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits, const CommunicatorPtr& comm,
                         bool differentiable);

}  // namespace uoe
