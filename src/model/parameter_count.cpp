#include "model/parameter_count.h"

namespace uoe {
namespace {

int64_t swiglu(int64_t hidden, int64_t intermediate) { return 3 * hidden * intermediate; }

int64_t attention_parameters(const ModelConfig& c) {
  const int64_t h = c.hidden_size, n = c.num_attention_heads;
  if (c.is_mla()) {
    const int64_t q_out = n * c.qk_head_dim();
    const int64_t bias = c.attention_bias ? 1 : 0;
    const int64_t q = c.q_lora_rank == 0
                          ? h * q_out
                          : (h + bias) * c.q_lora_rank + c.q_lora_rank + c.q_lora_rank * q_out;
    const int64_t kv_a = (h + bias) * (c.kv_lora_rank + c.qk_rope_head_dim);
    const int64_t kv =
        kv_a + c.kv_lora_rank + c.kv_lora_rank * n * (c.qk_nope_head_dim + c.v_head_dim);
    return q + kv + (n * c.v_head_dim + bias) * h;
  }
  const int64_t d = c.resolved_head_dim(), g = c.num_key_value_heads;
  const int64_t qkv_bias = c.attention_bias ? (n + 2 * g) * d : 0;
  const int64_t o_bias = c.attention_output_bias ? h : 0;
  int64_t norms = 0;
  if (c.qk_norm == "head") norms = 2 * d;
  if (c.qk_norm == "full") norms = (n + g) * d;
  return h * (n + 2 * g) * d + qkv_bias + n * d * h + o_bias + norms;
}

// One decoder layer's parameters, split like ParameterCounts (embeddings unused).
ParameterCounts layer_parameters(const ModelConfig& c, bool moe) {
  ParameterCounts p;
  const int64_t h = c.hidden_size;
  p.attention = attention_parameters(c);
  p.norms = 2 * h;
  if (!moe) {
    p.dense_mlp = swiglu(h, c.intermediate_size);
    return p;
  }
  p.routers = c.num_experts * h + (c.router_type == "deepseek_v3" ? c.num_experts : 0);
  if (c.shared_expert_intermediate_size > 0) {
    p.shared_experts =
        swiglu(h, c.shared_expert_intermediate_size) + (c.shared_expert_gate ? h : 0);
  }
  p.per_expert = swiglu(h, c.moe_intermediate_size);
  p.routed_experts = c.num_experts * p.per_expert;
  return p;
}

}  // namespace

nlohmann::json ParameterCounts::to_json() const {
  return {{"total", total()},
          {"active", active},
          {"embeddings", embeddings},
          {"attention", attention},
          {"norms", norms},
          {"dense_mlp", dense_mlp},
          {"routers", routers},
          {"shared_experts", shared_experts},
          {"routed_experts", routed_experts},
          {"per_expert", per_expert},
          {"mtp_not_counted", mtp}};
}

ParameterCounts count_parameters(const ModelConfig& c) {
  ParameterCounts total;
  const int64_t vh = c.vocab_size * c.hidden_size;
  total.embeddings = c.tie_word_embeddings ? vh : 2 * vh;
  total.norms = c.hidden_size;  // final norm
  int64_t inactive = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const ParameterCounts layer = layer_parameters(c, c.is_moe_layer(l));
    total.attention += layer.attention;
    total.norms += layer.norms;
    total.dense_mlp += layer.dense_mlp;
    total.routers += layer.routers;
    total.shared_experts += layer.shared_experts;
    total.routed_experts += layer.routed_experts;
    total.per_expert = std::max(total.per_expert, layer.per_expert);
    inactive += layer.routed_experts - c.num_experts_per_tok * layer.per_expert;
  }
  total.active = total.total() - inactive;
  if (c.num_nextn_predict_layers > 0) {
    const ParameterCounts layer = layer_parameters(c, /*moe=*/c.num_experts > 0);
    const int64_t h = c.hidden_size;
    const int64_t mtp_layer =
        layer.attention + layer.norms + layer.dense_mlp + layer.routers + layer.shared_experts +
        layer.routed_experts + 2 * h /* enorm, hnorm */ + 2 * h * h /* eh_proj */ +
        h /* shared_head.norm */ + vh /* shared_head.head */ + vh /* embed_tokens copy */;
    total.mtp = c.num_nextn_predict_layers * mtp_layer;
  }
  return total;
}

}  // namespace uoe
