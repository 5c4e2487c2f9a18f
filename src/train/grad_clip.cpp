#include "train/grad_clip.h"

namespace uoe {
namespace {

// The sum on the gradients' device (fp64), copied to the host once, not once per tensor.
double sum_of_squares(const std::vector<torch::Tensor>& params) {
  torch::Tensor total;  // [] fp64
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    auto squares = p.grad().to(torch::kFloat64).pow(2).sum();
    total = total.defined() ? total + squares : squares;
  }
  return total.defined() ? total.item<double>() : 0.0;
}

}  // namespace

double global_grad_norm(const GradientGroups& params, const ProcessGroups& groups) {
  auto expert_sq = torch::full({1}, sum_of_squares(params.expert), torch::kFloat64);
  groups.ep().control->all_reduce(expert_sq, ReduceOp::kSum);
  return std::sqrt(sum_of_squares(params.dense) + expert_sq.item<double>());
}

double clip_grad_norm(const GradientGroups& params, const ProcessGroups& groups, double max_norm) {
  const double norm = global_grad_norm(params, groups);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto* group : {&params.dense, &params.expert}) {
      for (const auto& p : *group) {
        if (p.grad().defined()) p.grad().mul_(scale);
      }
    }
  }
  return norm;
}

}  // namespace uoe
