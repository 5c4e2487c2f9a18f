#pragma once
// Parameter counts computed from a ModelConfig alone (nothing is allocated), so that the size of
// a 671B model can be printed and checked on a laptop. Counts every tensor a checkpoint stores
// for the model uoe builds, including DeepSeek-V3's e_score_correction_bias buffers.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "model/model_config.h"

namespace uoe {

struct ParameterCounts {
  int64_t embeddings = 0;      // embed_tokens + lm_head (once when tied)
  int64_t attention = 0;       // all layers, with q/k norms
  int64_t norms = 0;           // input/post-attention layernorms and the final norm
  int64_t dense_mlp = 0;       // dense feed-forward layers
  int64_t routers = 0;         // gate weights (+ correction biases)
  int64_t shared_experts = 0;  // shared experts and their gates
  int64_t routed_experts = 0;  // all routed experts of all layers
  int64_t per_expert = 0;      // one routed expert
  int64_t active = 0;          // used per token: everything but the E - K unused routed experts
  // DeepSeek-V3 multi-token-prediction layers as the checkpoint stores them (a decoder layer,
  // enorm, hnorm, eh_proj, shared_head and a copy of the embedding each); not part of `total`.
  int64_t mtp = 0;

  int64_t total() const {
    return embeddings + attention + norms + dense_mlp + routers + shared_experts + routed_experts;
  }
  nlohmann::json to_json() const;
};

ParameterCounts count_parameters(const ModelConfig& config);

}  // namespace uoe
