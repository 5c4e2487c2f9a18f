#pragma once
#include "parallel/grad_sync.h"

namespace uoe {

// Global L2 norm of the (already synchronised) gradients, counting every parameter once:
// dense gradients are identical on all ranks and counted from this rank; expert gradients are
// identical within an expert-DP group, so the squares are summed over the EP group (which holds
// each expert exactly once). Collective over the EP group.
double global_grad_norm(const GradientGroups& params, const ProcessGroups& groups);

// Scales all gradients by max_norm / norm when norm > max_norm (max_norm > 0). Returns the norm
// before clipping.
double clip_grad_norm(const GradientGroups& params, const ProcessGroups& groups, double max_norm);

}  // namespace uoe
