#pragma once
// Architecture of a decoder-only MoE causal LM. Field names follow HF config.json where one exists.
#include <cstdint>
#include <string>
#include <vector>

#include "moe/router.h"

namespace uoe {

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // < num_attention_heads: grouped-query attention
  int64_t head_dim = 0;             // 0: hidden_size / num_attention_heads
  int64_t intermediate_size = 0;    // dense feed-forward layers
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool attention_bias = false;
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;

  // Mixture of experts.
  int64_t num_experts = 0;               // routed experts per MoE layer
  int64_t num_experts_per_tok = 1;       // K
  int64_t moe_intermediate_size = 0;     // F of each routed expert
  int64_t first_k_dense_replace = 0;     // the first k layers use a dense feed-forward block
  int64_t shared_expert_intermediate_size = 0;  // 0 = no shared expert
  bool shared_expert_gate = false;
  std::string router_type = "softmax";  // softmax | deepseek_v2 | deepseek_v3
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1;
  int64_t topk_group = 1;

  int64_t resolved_head_dim() const {
    return head_dim > 0 ? head_dim : hidden_size / num_attention_heads;
  }
  bool is_moe_layer(int64_t layer) const { return num_experts > 0 && layer >= first_k_dense_replace; }
  std::vector<int64_t> moe_layer_indices() const;  // ascending
  int64_t num_moe_layers() const { return static_cast<int64_t>(moe_layer_indices().size()); }
  RouterOptions router_options() const;

  // Throws InputError naming `prefix`.<key> for the first inconsistent value.
  void validate(const std::string& prefix) const;
};

}  // namespace uoe
