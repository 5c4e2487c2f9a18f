#include "model/model_config_yaml.h"

namespace uoe {
namespace {

RopeScaling parse_rope_scaling(ConfigNode node) {
  RopeScaling r;
  r.type = node.get<std::string>("type", r.type);
  r.factor = node.get<double>("factor", r.factor);
  r.original_max_position_embeddings =
      node.get<int64_t>("original_max_position_embeddings", r.original_max_position_embeddings);
  r.beta_fast = node.get<double>("beta_fast", r.beta_fast);
  r.beta_slow = node.get<double>("beta_slow", r.beta_slow);
  r.mscale = node.get<double>("mscale", r.mscale);
  r.mscale_all_dim = node.get<double>("mscale_all_dim", r.mscale_all_dim);
  r.attention_factor = node.get<double>("attention_factor", r.attention_factor);
  r.truncate = node.get<bool>("truncate", r.truncate);
  node.finish();
  return r;
}

}  // namespace

ModelConfig parse_model_config(ConfigNode node) {
  ModelConfig c;
  c.architecture = node.get<std::string>("architecture", "");
  c.vocab_size = node.require<int64_t>("vocab_size");
  c.hidden_size = node.require<int64_t>("hidden_size");
  c.num_hidden_layers = node.require<int64_t>("num_hidden_layers");
  c.num_attention_heads = node.require<int64_t>("num_attention_heads");
  c.num_key_value_heads = node.get<int64_t>("num_key_value_heads", c.num_attention_heads);
  c.head_dim = node.get<int64_t>("head_dim", 0);
  c.intermediate_size = node.get<int64_t>("intermediate_size", 0);
  c.max_position_embeddings = node.get<int64_t>("max_position_embeddings", 2048);
  c.rope_theta = node.get<double>("rope_theta", c.rope_theta);
  c.rope_scaling = parse_rope_scaling(node.child("rope_scaling"));
  c.rms_norm_eps = node.get<double>("rms_norm_eps", c.rms_norm_eps);
  c.attention_bias = node.get<bool>("attention_bias", false);
  c.attention_output_bias = node.get<bool>("attention_output_bias", false);
  c.qk_norm = node.get<std::string>("qk_norm", c.qk_norm);
  c.tie_word_embeddings = node.get<bool>("tie_word_embeddings", false);
  c.initializer_range = node.get<double>("initializer_range", c.initializer_range);
  c.kv_lora_rank = node.get<int64_t>("kv_lora_rank", 0);
  c.q_lora_rank = node.get<int64_t>("q_lora_rank", 0);
  c.qk_nope_head_dim = node.get<int64_t>("qk_nope_head_dim", 0);
  c.qk_rope_head_dim = node.get<int64_t>("qk_rope_head_dim", 0);
  c.v_head_dim = node.get<int64_t>("v_head_dim", 0);
  c.rope_interleave = node.get<bool>("rope_interleave", c.rope_interleave);
  c.num_experts = node.get<int64_t>("num_experts", 0);
  c.num_experts_per_tok = node.get<int64_t>("num_experts_per_tok", 1);
  c.moe_intermediate_size = node.get<int64_t>("moe_intermediate_size", 0);
  c.first_k_dense_replace = node.get<int64_t>("first_k_dense_replace", 0);
  c.decoder_sparse_step = node.get<int64_t>("decoder_sparse_step", 1);
  c.mlp_only_layers = node.get<std::vector<int64_t>>("mlp_only_layers", {});
  c.shared_expert_intermediate_size = node.get<int64_t>("shared_expert_intermediate_size", 0);
  c.shared_expert_gate = node.get<bool>("shared_expert_gate", false);
  c.router_type = node.get<std::string>("router_type", c.router_type);
  c.norm_topk_prob = node.get<bool>("norm_topk_prob", false);
  c.routed_scaling_factor = node.get<double>("routed_scaling_factor", 1.0);
  c.n_group = node.get<int64_t>("n_group", 1);
  c.topk_group = node.get<int64_t>("topk_group", 1);
  c.num_nextn_predict_layers = node.get<int64_t>("num_nextn_predict_layers", 0);
  node.finish();
  c.validate(node.path());
  return c;
}

}  // namespace uoe
