#include "io/model_config_yaml.h"

namespace uoe {

ModelConfig parse_model_config(ConfigNode node) {
  ModelConfig c;
  c.vocab_size = node.require<int64_t>("vocab_size");
  c.hidden_size = node.require<int64_t>("hidden_size");
  c.num_hidden_layers = node.require<int64_t>("num_hidden_layers");
  c.num_attention_heads = node.require<int64_t>("num_attention_heads");
  c.num_key_value_heads = node.get<int64_t>("num_key_value_heads", c.num_attention_heads);
  c.head_dim = node.get<int64_t>("head_dim", 0);
  c.intermediate_size = node.get<int64_t>("intermediate_size", 0);
  c.max_position_embeddings = node.get<int64_t>("max_position_embeddings", 2048);
  c.rope_theta = node.get<double>("rope_theta", c.rope_theta);
  c.rms_norm_eps = node.get<double>("rms_norm_eps", c.rms_norm_eps);
  c.attention_bias = node.get<bool>("attention_bias", false);
  c.tie_word_embeddings = node.get<bool>("tie_word_embeddings", false);
  c.initializer_range = node.get<double>("initializer_range", c.initializer_range);
  c.num_experts = node.get<int64_t>("num_experts", 0);
  c.num_experts_per_tok = node.get<int64_t>("num_experts_per_tok", 1);
  c.moe_intermediate_size = node.get<int64_t>("moe_intermediate_size", 0);
  c.first_k_dense_replace = node.get<int64_t>("first_k_dense_replace", 0);
  c.shared_expert_intermediate_size = node.get<int64_t>("shared_expert_intermediate_size", 0);
  c.shared_expert_gate = node.get<bool>("shared_expert_gate", false);
  c.router_type = node.get<std::string>("router_type", c.router_type);
  c.norm_topk_prob = node.get<bool>("norm_topk_prob", false);
  c.routed_scaling_factor = node.get<double>("routed_scaling_factor", 1.0);
  c.n_group = node.get<int64_t>("n_group", 1);
  c.topk_group = node.get<int64_t>("topk_group", 1);
  node.finish();
  c.validate(node.path());
  return c;
}

}  // namespace uoe
