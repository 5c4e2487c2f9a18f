#pragma once
// Gradient synchronisation with one averaging rule (DESIGN.md section 3).
//
// Each rank scales its token-sum loss by 1 / (global number of loss tokens), so that summing the
// gradients over replicas gives the gradient of the global token mean whatever the layout:
//   dense and router parameters : sum over the world (every rank is a replica);
//   expert parameters           : sum over the expert-DP group (the owner already holds the
//                                 contributions of its whole EP group via the all-to-all backward).
// Gradients are flattened into one buffer per group so each group costs one all-reduce.
#include "parallel/process_groups.h"

namespace uoe {

struct GradientGroups {
  std::vector<torch::Tensor> dense;   // replicated on every rank, same order everywhere
  std::vector<torch::Tensor> expert;  // this rank's experts, same order within expert_dp
};

// Sum-all-reduces the gradients. Parameters whose grad is undefined contribute zeros (and get a
// zero grad), so ranks that saw no tokens still take part.
void sync_gradients(const GradientGroups& params, const ProcessGroups& groups);

// Sum-all-reduces the tensors in place through one flattened buffer.
void all_reduce_flat(const std::vector<torch::Tensor>& tensors, Communicator& comm);

}  // namespace uoe
