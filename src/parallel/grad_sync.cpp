#include "parallel/grad_sync.h"

namespace uoe {

void all_reduce_flat(const std::vector<torch::Tensor>& tensors, Communicator& comm) {
  if (tensors.empty() || comm.size() == 1) return;
  std::vector<torch::Tensor> flat_views;
  flat_views.reserve(tensors.size());
  for (const auto& t : tensors) flat_views.push_back(t.reshape({-1}));
  auto buffer = torch::cat(flat_views);
  comm.all_reduce(buffer, ReduceOp::kSum);
  int64_t offset = 0;
  for (const auto& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(buffer.narrow(0, offset, n).view_as(t));
    offset += n;
  }
}

namespace {

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  return grads;
}

}  // namespace

void sync_gradients(const GradientGroups& params, const ProcessGroups& groups) {
  all_reduce_flat(grads_of(params.dense), *groups.dp().data);
  all_reduce_flat(grads_of(params.expert), *groups.expert_dp().data);
}

}  // namespace uoe
