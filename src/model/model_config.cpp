#include "model/model_config.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "model/rotary.h"

namespace uoe {

double ModelConfig::softmax_divisor() const {
  double divisor = std::sqrt(static_cast<double>(qk_head_dim()));
  if (rope_scaling.is_yarn() && rope_scaling.mscale_all_dim != 0.0) {
    const double m = yarn_mscale(rope_scaling.factor, rope_scaling.mscale_all_dim);
    divisor /= m * m;
  }
  return divisor;
}

bool ModelConfig::is_moe_layer(int64_t layer) const {
  return num_experts > 0 && layer >= first_k_dense_replace &&
         (layer + 1) % decoder_sparse_step == 0 &&
         std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) == mlp_only_layers.end();
}

std::vector<int64_t> ModelConfig::moe_layer_indices() const {
  std::vector<int64_t> layers;
  for (int64_t l = 0; l < num_hidden_layers; ++l) {
    if (is_moe_layer(l)) layers.push_back(l);
  }
  return layers;
}

RouterOptions ModelConfig::router_options() const {
  RouterOptions r;
  r.hidden_size = hidden_size;
  r.num_experts = num_experts;
  r.top_k = num_experts_per_tok;
  r.kind = parse_router_kind(router_type);
  r.norm_topk_prob = norm_topk_prob;
  r.routed_scaling_factor = routed_scaling_factor;
  r.n_group = n_group;
  r.topk_group = topk_group;
  return r;
}

void ModelConfig::validate(const std::string& p) const {
  auto positive = [&](int64_t v, const char* key) {
    UOE_CHECK(v > 0, p, ".", key, " must be > 0, got ", v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(max_position_embeddings, "max_position_embeddings");
  UOE_CHECK(num_attention_heads % num_key_value_heads == 0, p,
            ".num_attention_heads=", num_attention_heads, " must be a multiple of ", p,
            ".num_key_value_heads=", num_key_value_heads);
  UOE_CHECK(kv_lora_rank >= 0, p, ".kv_lora_rank must be >= 0 (0: no latent attention), got ",
            kv_lora_rank);
  if (is_mla()) {
    positive(qk_nope_head_dim, "qk_nope_head_dim");
    positive(qk_rope_head_dim, "qk_rope_head_dim");
    positive(v_head_dim, "v_head_dim");
    UOE_CHECK(q_lora_rank >= 0, p, ".q_lora_rank must be >= 0 (0: no query compression), got ",
              q_lora_rank);
    UOE_CHECK(qk_norm == "none", p, ".qk_norm must be none with multi-head latent attention");
  } else {
    UOE_CHECK(head_dim > 0 || hidden_size % num_attention_heads == 0, p,
              ".hidden_size=", hidden_size, " is not divisible by ", p,
              ".num_attention_heads=", num_attention_heads, "; set ", p, ".head_dim");
  }
  UOE_CHECK(rotary_dim() % 2 == 0, p, ".", is_mla() ? "qk_rope_head_dim" : "head_dim",
            " must be even for RoPE, got ", rotary_dim());
  UOE_CHECK(qk_norm == "none" || qk_norm == "head" || qk_norm == "full", p, ".qk_norm must be ",
            "none, head (per-head q/k RMSNorm, Qwen3) or full (over all heads, OLMoE), got '",
            qk_norm, "'");
  UOE_CHECK(rope_theta > 0, p, ".rope_theta must be > 0, got ", rope_theta);
  UOE_CHECK(rope_scaling.type == "default" || rope_scaling.is_yarn(), p,
            ".rope_scaling.type must be default or yarn, got '", rope_scaling.type, "'");
  if (rope_scaling.is_yarn()) {
    UOE_CHECK(rope_scaling.factor >= 1.0, p, ".rope_scaling.factor must be >= 1, got ",
              rope_scaling.factor);
    UOE_CHECK(rope_scaling.beta_fast > 0 && rope_scaling.beta_slow > 0, p,
              ".rope_scaling.beta_fast and beta_slow must be > 0");
    UOE_CHECK(rope_scaling.attention_factor >= 0, p,
              ".rope_scaling.attention_factor must be > 0 (0: derived), got ",
              rope_scaling.attention_factor);
  }
  UOE_CHECK(num_experts >= 0, p, ".num_experts must be >= 0, got ", num_experts);
  UOE_CHECK(first_k_dense_replace >= 0 && first_k_dense_replace <= num_hidden_layers, p,
            ".first_k_dense_replace must be in [0, num_hidden_layers], got ",
            first_k_dense_replace);
  UOE_CHECK(decoder_sparse_step >= 1, p, ".decoder_sparse_step must be >= 1, got ",
            decoder_sparse_step);
  for (int64_t l : mlp_only_layers) {
    UOE_CHECK(l >= 0 && l < num_hidden_layers, p, ".mlp_only_layers: layer ", l,
              " is not in [0, num_hidden_layers=", num_hidden_layers, ")");
  }
  if (num_moe_layers() < num_hidden_layers) positive(intermediate_size, "intermediate_size");
  if (num_experts > 0) {
    positive(moe_intermediate_size, "moe_intermediate_size");
    UOE_CHECK(num_experts_per_tok >= 1 && num_experts_per_tok <= num_experts, p,
              ".num_experts_per_tok must be in [1, num_experts=", num_experts, "], got ",
              num_experts_per_tok);
    UOE_CHECK(n_group >= 1 && num_experts % n_group == 0, p, ".n_group=", n_group,
              " must divide num_experts=", num_experts);
    UOE_CHECK(topk_group >= 1 && topk_group <= n_group, p, ".topk_group=", topk_group,
              " must be in [1, n_group=", n_group, "]");
    UOE_CHECK(num_experts_per_tok <= topk_group * (num_experts / n_group), p,
              ".num_experts_per_tok=", num_experts_per_tok, " exceeds the ", topk_group,
              " kept groups' ", topk_group * (num_experts / n_group), " experts (topk_group x ",
              "num_experts / n_group)");
    UOE_CHECK(shared_expert_intermediate_size >= 0, p,
              ".shared_expert_intermediate_size must be >= 0");
    try {
      parse_router_kind(router_type);
    } catch (const InputError& e) {
      throw InputError(c10::str(p, ".router_type: ", e.what()));
    }
  }
}

}  // namespace uoe
