#pragma once
// Architecture of a decoder-only MoE causal LM. Field names follow HF config.json where one exists.
#include <cstdint>
#include <string>
#include <vector>

#include "moe/router.h"

namespace uoe {

// HF `rope_scaling` (config.json). Only "default" (none) and "yarn" are supported.
struct RopeScaling {
  std::string type = "default";  // default | yarn
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;  // 0: max_position_embeddings
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 0.0;            // 0: not set
  double mscale_all_dim = 0.0;    // 0: not set; else softmax scale *= yarn_mscale(mscale_all_dim)^2
  double attention_factor = 0.0;  // 0: derived from factor / mscale / mscale_all_dim
  bool truncate = true;           // round the YaRN correction range to whole dimensions

  bool is_yarn() const { return type == "yarn"; }
};

struct ModelConfig {
  std::string architecture;  // HF `architectures[0]`; empty for a model built from `model:`
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // < num_attention_heads: grouped-query attention
  int64_t head_dim = 0;             // 0: hidden_size / num_attention_heads
  int64_t intermediate_size = 0;    // dense feed-forward layers
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  bool attention_bias = false;         // biases of q/k/v projections (MLA: of q_a/kv_a/o)
  bool attention_output_bias = false;  // bias of o_proj (MHA/GQA only)
  std::string qk_norm = "none";        // none | head (Qwen3: per head) | full (OLMoE: whole q / k)
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;

  // Multi-head latent attention (DeepSeek-V2/V3); used when kv_lora_rank > 0.
  int64_t kv_lora_rank = 0;
  int64_t q_lora_rank = 0;  // 0: q_proj; else q_a_proj -> q_a_layernorm -> q_b_proj
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool rope_interleave = true;  // MLA rope acts on interleaved pairs (DeepSeek weights)

  // Mixture of experts.
  int64_t num_experts = 0;                      // routed experts per MoE layer
  int64_t num_experts_per_tok = 1;              // K
  int64_t moe_intermediate_size = 0;            // F of each routed expert
  int64_t first_k_dense_replace = 0;            // the first k layers use a dense feed-forward block
  int64_t decoder_sparse_step = 1;              // Qwen-MoE: layer l is MoE when (l + 1) % step == 0
  std::vector<int64_t> mlp_only_layers;         // Qwen-MoE: layers that use a dense block
  int64_t shared_expert_intermediate_size = 0;  // 0 = no shared expert
  bool shared_expert_gate = false;
  std::string router_type = "softmax";  // softmax | deepseek_v2 | deepseek_v3
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t num_nextn_predict_layers = 0;  // DeepSeek-V3 multi-token prediction: counted, not built

  bool is_mla() const { return kv_lora_rank > 0; }
  int64_t resolved_head_dim() const {
    return head_dim > 0 ? head_dim : hidden_size / num_attention_heads;
  }
  // Width of the rotary part of a query/key head (MLA: qk_rope_head_dim).
  int64_t rotary_dim() const { return is_mla() ? qk_rope_head_dim : resolved_head_dim(); }
  // Width of a query/key head (MLA: qk_nope_head_dim + qk_rope_head_dim).
  int64_t qk_head_dim() const {
    return is_mla() ? qk_nope_head_dim + qk_rope_head_dim : resolved_head_dim();
  }
  // Divisor of the attention logits: qk_head_dim^0.5, over the YaRN mscale^2 (DeepSeek). A divisor,
  // not a factor, so that plain attention computes q.k / sqrt(D) exactly as before MLA existed.
  double softmax_divisor() const;
  bool is_moe_layer(int64_t layer) const;
  std::vector<int64_t> moe_layer_indices() const;  // ascending
  int64_t num_moe_layers() const { return static_cast<int64_t>(moe_layer_indices().size()); }
  RouterOptions router_options() const;

  // Throws InputError naming `prefix`.<key> for the first inconsistent value.
  void validate(const std::string& prefix) const;
};

}  // namespace uoe
