#pragma once
// Validation and defaults for all-to-all split sizes, shared by the MPI and NCCL backends.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace uoe {

// Returns the per-rank row counts: `splits` when given (checked to have `world` entries that sum
// to `rows`), otherwise `rows / world` each (checked to divide evenly).
std::vector<int64_t> resolve_splits(const std::vector<int64_t>& splits, int64_t rows, int world,
                                    const char* which);

// Rows sent to each rank by an exchange of `input` whose sent rows are picked by `send_rows`
// (undefined: every row of `input`): resolve_splits over the picked rows.
std::vector<int64_t> resolve_send_splits(const std::vector<int64_t>& input_splits,
                                         const torch::Tensor& input, const torch::Tensor& send_rows,
                                         int world);

// Elements per row of a tensor (product of its trailing dimensions; 1 for a 1-D tensor).
int64_t row_numel(const torch::Tensor& t);

// Checks both tensors are contiguous, on `device_type`, with the same dtype and trailing shape.
void check_exchange_tensors(const torch::Tensor& output, const torch::Tensor& input,
                            c10::DeviceType device_type, const std::string& backend);

}  // namespace uoe
