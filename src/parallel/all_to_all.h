#pragma once
// Differentiable all-to-all-v: the backward pass is the reverse exchange of the gradient.
#include <functional>

#include "common/step_profiler.h"
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

// The row permutations fused into the exchange (Communicator::all_to_all_rows).
struct ExchangeRows {
  torch::Tensor send;  // [sum(input_splits)] int64: input row of each sent row; may repeat rows
  torch::Tensor recv;  // [sum(output_splits)] int64: output row of each received row (permutation)
  bool send_is_permutation = false;  // each input row is sent exactly once
};

// Where the backward exchange reports its time and bytes ("backward_token_all_to_all").
struct ExchangeTrace {
  StepProfiler* profiler = nullptr;  // null = not profiled
  int layer = StepProfiler::kNoLayer;
};

// all_to_all with `rows` applied: output[rows.recv[i]] = i-th received row, where the rows sent
// are input[rows.send]. Backward runs the reverse exchange with the roles of the two index lists
// swapped; when `send` repeats rows, the returning gradients are summed per input row.
// `while_in_flight`, when given, runs (with the caller's grad mode) between the start of the
// forward exchange and its completion (Communicator::start_all_to_all_rows); it must not use
// `comm`.
// `replayed`, when defined, is what this exchange delivered in an earlier run on the same input
// (recomputation, moe/dispatch_transport.h): nothing is communicated, the output is `replayed`
// with the backward node the exchange would have attached (`while_in_flight` still runs).
torch::Tensor all_to_all(const torch::Tensor& input, const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits, const CommunicatorPtr& comm,
                         bool differentiable, const ExchangeRows& rows,
                         const ExchangeTrace& trace = {},
                         const std::function<void()>& while_in_flight = nullptr,
                         const torch::Tensor& replayed = {});

}  // namespace uoe
