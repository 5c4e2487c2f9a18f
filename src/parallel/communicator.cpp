#include "parallel/communicator.h"

namespace uoe {

void Communicator::all_to_all_rows(torch::Tensor& output, const torch::Tensor& input,
                                   const std::vector<int64_t>& output_splits,
                                   const std::vector<int64_t>& input_splits,
                                   const torch::Tensor& send_rows, const torch::Tensor& recv_rows) {
  const torch::Tensor sent = send_rows.defined() ? input.index_select(0, send_rows) : input;
  if (!recv_rows.defined()) {
    all_to_all_single(output, sent, output_splits, input_splits);
    return;
  }
  auto received = torch::empty_like(output);  // [sum(output_splits), ...] in arrival order
  all_to_all_single(received, sent, output_splits, input_splits);
  output.index_copy_(0, recv_rows, received);
}

namespace {

class CompletedExchange final : public PendingExchange {
 public:
  void wait() override {}
};

}  // namespace

std::unique_ptr<PendingExchange> Communicator::start_all_to_all_rows(
    torch::Tensor& output, const torch::Tensor& input, const std::vector<int64_t>& output_splits,
    const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
    const torch::Tensor& recv_rows) {
  all_to_all_rows(output, input, output_splits, input_splits, send_rows, recv_rows);
  return std::make_unique<CompletedExchange>();
}

int64_t all_reduce_sum(Communicator& comm, int64_t value) {
  auto t = torch::full({1}, value, torch::kInt64);
  comm.all_reduce(t, ReduceOp::kSum);
  return t.item<int64_t>();
}

}  // namespace uoe
