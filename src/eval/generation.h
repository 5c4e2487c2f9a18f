#pragma once
// Greedy generation with a KV cache (model/kv_cache.h). Prompts of one batch are right-padded and
// each row decodes at its own positions, so the tokens are those of recomputing the whole padded
// prefix for every new token: the prompt is computed once, then one token per row and step.
#include <vector>

#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

// Greedy continuation of each prompt (token lists; this rank's rows, possibly none) by up to
// `steps` tokens. Collective over the world: every rank runs the same number of forward passes.
// With stop_token >= 0 a row keeps its stop token and nothing after it, and generation ends once
// every row of every rank has produced it. The longest prompt plus `steps` - 1 must fit in
// model.max_position_embeddings.
std::vector<std::vector<int64_t>> greedy_generate(CausalLM& model,
                                                  const std::vector<std::vector<int64_t>>& prompts,
                                                  int64_t steps, const ProcessGroups& groups,
                                                  int64_t stop_token = -1);

}  // namespace uoe
