#include "parallel/split_sizes.h"

#include <numeric>

#include "common/check.h"

namespace uoe {

std::vector<int64_t> resolve_splits(const std::vector<int64_t>& splits, int64_t rows, int world,
                                    const char* which) {
  if (splits.empty()) {
    UOE_ASSERT(rows % world == 0, which, ": ", rows, " rows do not split evenly over ", world,
               " ranks");
    return std::vector<int64_t>(world, rows / world);
  }
  UOE_ASSERT(static_cast<int>(splits.size()) == world, which, ": expected ", world,
             " split sizes, got ", splits.size());
  const int64_t total = std::accumulate(splits.begin(), splits.end(), int64_t{0});
  UOE_ASSERT(total == rows, which, ": split sizes sum to ", total, " but the tensor has ", rows,
             " rows");
  for (int64_t s : splits) UOE_ASSERT(s >= 0, which, ": negative split size ", s);
  return splits;
}

std::vector<int64_t> resolve_send_splits(const std::vector<int64_t>& input_splits,
                                         const torch::Tensor& input, const torch::Tensor& send_rows,
                                         int world) {
  return resolve_splits(input_splits, send_rows.defined() ? send_rows.numel() : input.size(0),
                        world, "input");
}

int64_t row_numel(const torch::Tensor& t) {
  int64_t n = 1;
  for (int64_t d = 1; d < t.dim(); ++d) n *= t.size(d);
  return n;
}

void check_exchange_tensors(const torch::Tensor& output, const torch::Tensor& input,
                            c10::DeviceType device_type, const std::string& backend) {
  UOE_ASSERT(input.device().type() == device_type && output.device().type() == device_type, backend,
             " backend needs ", device_type, " tensors, got ", input.device(), " and ",
             output.device());
  UOE_ASSERT(input.is_contiguous() && output.is_contiguous(), backend,
             ": all_to_all tensors must be contiguous");
  UOE_ASSERT(input.scalar_type() == output.scalar_type(), backend, ": dtype mismatch ",
             input.scalar_type(), " vs ", output.scalar_type());
  UOE_ASSERT(input.dim() == output.dim() && input.sizes().slice(1) == output.sizes().slice(1),
             backend, ": trailing shapes differ: ", input.sizes(), " vs ", output.sizes());
}

}  // namespace uoe
