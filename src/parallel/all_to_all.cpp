#include "parallel/all_to_all.h"

#include <torch/csrc/autograd/functions/utils.h>

#include <numeric>

#include "parallel/autograd_node.h"

namespace uoe {
namespace {

// An empty [sum(output_splits), ...] tensor like `input`.
torch::Tensor exchange_output(const torch::Tensor& input,
                              const std::vector<int64_t>& output_splits) {
  std::vector<int64_t> shape = input.sizes().vec();
  shape[0] = std::accumulate(output_splits.begin(), output_splits.end(), int64_t{0});
  return torch::empty(shape, input.options());
}

// [sum(input_splits) rows picked by send_rows] -> [sum(output_splits), ...] placed by recv_rows.
torch::Tensor exchange(const torch::Tensor& input, const std::vector<int64_t>& output_splits,
                       const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
                       const torch::Tensor& recv_rows, Communicator& comm) {
  auto output = exchange_output(input, output_splits);
  auto contiguous = input.contiguous();
  if (send_rows.defined() || recv_rows.defined()) {
    comm.all_to_all_rows(output, contiguous, output_splits, input_splits, send_rows, recv_rows);
  } else {
    comm.all_to_all_single(output, contiguous, output_splits, input_splits);
  }
  return output;
}

// Backward of all_to_all: sends each gradient row back to the rank its forward row came from.
class AllToAllBackward : public torch::autograd::Node {
 public:
  AllToAllBackward(CommunicatorPtr comm, std::vector<int64_t> output_splits,
                   std::vector<int64_t> input_splits, ExchangeRows rows, int64_t input_rows,
                   ExchangeTrace trace, const torch::Tensor& output)
      : comm_(std::move(comm)),
        output_splits_(std::move(output_splits)),
        input_splits_(std::move(input_splits)),
        rows_(std::move(rows)),
        input_rows_(input_rows),
        trace_(trace),
        output_shape_(output.sizes().vec()),
        output_options_(output.options()) {}

  std::string name() const override { return "uoe::AllToAllBackward"; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    // An unused output still takes part in the exchange, with zeros, so that no rank waits.
    const StepProfiler::Scope timer(trace_.profiler, "backward_token_all_to_all", trace_.layer);
    torch::Tensor grad =
        grads[0].defined() ? grads[0] : torch::zeros(output_shape_, output_options_);
    StepProfiler::add_bytes(trace_.profiler, "backward_token_all_to_all", trace_.layer,
                            double(grad.numel()) * double(grad.element_size()));
    torch::Tensor grad_input;
    if (rows_.send.defined() && !rows_.send_is_permutation) {
      // Forward sent some input rows more than once: sum their returning gradients.
      auto returned = exchange(grad, input_splits_, output_splits_, rows_.recv, torch::Tensor(),
                               *comm_);  // [sum(input_splits), ...] in send order
      std::vector<int64_t> shape = output_shape_;
      shape[0] = input_rows_;
      grad_input = torch::zeros(shape, output_options_).index_add_(0, rows_.send, returned);
    } else {
      grad_input = exchange(grad, input_splits_, output_splits_, rows_.recv, rows_.send, *comm_);
    }
    return {should_compute_output(0) ? grad_input : torch::Tensor()};
  }

 private:
  CommunicatorPtr comm_;
  std::vector<int64_t> output_splits_;
  std::vector<int64_t> input_splits_;
  ExchangeRows rows_;
  int64_t input_rows_;
  ExchangeTrace trace_;
  std::vector<int64_t> output_shape_;
  torch::TensorOptions output_options_;
};

}  // namespace

torch::Tensor all_to_all(const torch::Tensor& input, const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits, const CommunicatorPtr& comm,
                         bool differentiable) {
  return all_to_all(input, output_splits, input_splits, comm, differentiable, ExchangeRows{});
}

torch::Tensor all_to_all(const torch::Tensor& input, const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits, const CommunicatorPtr& comm,
                         bool differentiable, const ExchangeRows& rows, const ExchangeTrace& trace,
                         const std::function<void()>& while_in_flight,
                         const torch::Tensor& replayed) {
  torch::Tensor output;
  if (replayed.defined()) {
    output = replayed.detach();  // a new autograd identity for the kept rows
    if (while_in_flight) while_in_flight();
  } else if (while_in_flight) {
    torch::Tensor contiguous;
    std::unique_ptr<PendingExchange> pending;
    {
      torch::NoGradGuard no_grad;
      output = exchange_output(input, output_splits);
      contiguous = input.contiguous();
      pending = comm->start_all_to_all_rows(output, contiguous, output_splits, input_splits,
                                            rows.send, rows.recv);
    }
    while_in_flight();
    pending->wait();
  } else {
    torch::NoGradGuard no_grad;
    output = exchange(input, output_splits, input_splits, rows.send, rows.recv, *comm);
  }
  if (differentiable && torch::GradMode::is_enabled()) {
    auto node = make_node<AllToAllBackward>(comm, output_splits, input_splits, rows, input.size(0),
                                            trace, output);
    node->set_next_edges(torch::autograd::collect_next_edges(input));
    torch::autograd::set_history(output, node);
  }
  return output;
}

}  // namespace uoe
