#pragma once
// Routing measured during evaluation and training: how often the router picks a given expert.
#include <torch/torch.h>

namespace uoe {

// One routed expert of the model: the unit SEUF selects and unlearns.
struct ExpertTarget {
  int64_t layer = -1;   // model layer index
  int64_t expert = -1;  // global expert id
};

// Share of valid tokens whose top-K contains `expert`, as [hits, valid tokens] fp64 sums on the
// tensors' device (read without waiting for it only by whoever needs the numbers).
// topk_ids [T, K], valid [T].
torch::Tensor target_selection_counts(const torch::Tensor& topk_ids, const torch::Tensor& valid,
                                      int64_t expert);

}  // namespace uoe
