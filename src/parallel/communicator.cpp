#include "parallel/communicator.h"

namespace uoe {

int64_t all_reduce_sum(Communicator& comm, int64_t value) {
  auto t = torch::full({1}, value, torch::kInt64);
  comm.all_reduce(t, ReduceOp::kSum);
  return t.item<int64_t>();
}

}  // namespace uoe
