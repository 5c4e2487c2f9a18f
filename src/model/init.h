#pragma once
#include <torch/torch.h>

namespace uoe {

// Deterministic initialisation that does not depend on the layout: each parameter is drawn from
// its own generator seeded by (seed, parameter name), normal(0, std). Norm weights
// ("...norm.weight") are set to 1 and biases to 0. Expert names carry global ids, so any ep_size
// gives the same model.
void initialize_parameters(torch::nn::Module& module, uint64_t seed, double std);

}  // namespace uoe
