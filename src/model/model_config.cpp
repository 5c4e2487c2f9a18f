#include "model/model_config.h"

#include "common/check.h"

namespace uoe {

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
  UOE_CHECK(num_attention_heads % num_key_value_heads == 0, p, ".num_attention_heads=",
            num_attention_heads, " must be a multiple of ", p, ".num_key_value_heads=",
            num_key_value_heads);
  UOE_CHECK(head_dim > 0 || hidden_size % num_attention_heads == 0, p, ".hidden_size=", hidden_size,
            " is not divisible by ", p, ".num_attention_heads=", num_attention_heads,
            "; set ", p, ".head_dim");
  UOE_CHECK(resolved_head_dim() % 2 == 0, p, ".head_dim must be even for RoPE, got ",
            resolved_head_dim());
  UOE_CHECK(num_experts >= 0, p, ".num_experts must be >= 0, got ", num_experts);
  UOE_CHECK(first_k_dense_replace >= 0 && first_k_dense_replace <= num_hidden_layers, p,
            ".first_k_dense_replace must be in [0, num_hidden_layers], got ", first_k_dense_replace);
  if (first_k_dense_replace > 0 || num_experts == 0) positive(intermediate_size, "intermediate_size");
  if (num_experts > 0) {
    positive(moe_intermediate_size, "moe_intermediate_size");
    UOE_CHECK(num_experts_per_tok >= 1 && num_experts_per_tok <= num_experts, p,
              ".num_experts_per_tok must be in [1, num_experts=", num_experts, "], got ",
              num_experts_per_tok);
    UOE_CHECK(n_group >= 1 && num_experts % n_group == 0, p, ".n_group=", n_group,
              " must divide num_experts=", num_experts);
    UOE_CHECK(topk_group >= 1 && topk_group <= n_group, p, ".topk_group=", topk_group,
              " must be in [1, n_group=", n_group, "]");
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
