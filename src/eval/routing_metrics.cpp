#include "eval/routing_metrics.h"

namespace uoe {

torch::Tensor target_selection_counts(const torch::Tensor& topk_ids, const torch::Tensor& valid,
                                      int64_t expert) {
  auto hit = (topk_ids == expert).any(-1).to(torch::kFloat64);  // [T]
  auto v = valid.reshape({-1}).to(torch::kFloat64);             // [T]
  return torch::stack({(hit * v).sum(), v.sum()});              // [2]
}

}  // namespace uoe
