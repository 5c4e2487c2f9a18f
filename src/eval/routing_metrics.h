#pragma once
// Routing measured during evaluation and training: how often the router picks a given expert.
#include <torch/torch.h>

#include <utility>

namespace uoe {

// One routed expert of the model: the unit SEUF selects and unlearns.
struct ExpertTarget {
  int64_t layer = -1;   // model layer index
  int64_t expert = -1;  // global expert id
};

// Share of valid tokens whose top-K contains `expert`, as (count, valid) sums.
// topk_ids [T, K], valid [T].
std::pair<double, double> target_selection_counts(const torch::Tensor& topk_ids,
                                                  const torch::Tensor& valid, int64_t expert);

}  // namespace uoe
