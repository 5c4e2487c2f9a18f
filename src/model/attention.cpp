#include "model/attention.h"

namespace uoe {

torch::Tensor masked_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double divisor,
                               const torch::Tensor& blocked) {
  const int64_t batch = q.size(0), heads = q.size(1), seq = q.size(2);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / divisor;  // [B, N, S, K]
  scores = scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores.to(torch::kFloat32), -1).to(v.scalar_type());
  auto context = torch::matmul(probs, v);  // [B, N, S, Dv]
  return context.transpose(1, 2).reshape({batch, seq, heads * v.size(-1)});
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double divisor) {
  const int64_t seq = q.size(2);
  auto future =
      torch::ones({seq, seq}, torch::TensorOptions().dtype(torch::kBool).device(q.device()))
          .triu(1);  // [S, S]
  return masked_attention(q, k, v, divisor, future);
}

torch::Tensor self_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v,
                             double divisor, const LayerCacheStep* cached) {
  if (cached) std::tie(k, v) = cached->append(k, v);  // [B, G, K, D]
  const int64_t groups = q.size(1) / k.size(1);
  if (groups != 1) {
    k = k.repeat_interleave(groups, 1);  // [B, N, K, D]
    v = v.repeat_interleave(groups, 1);  // [B, N, K, D]
  }
  return cached ? masked_attention(q, k, v, divisor, cached->step.blocked)
                : causal_attention(q, k, v, divisor);
}

AttentionImpl::AttentionImpl(const ModelConfig& config,
                             const torch::TensorOptions& parameter_options)
    : num_heads_(config.num_attention_heads),
      num_kv_heads_(config.num_key_value_heads),
      head_dim_(config.resolved_head_dim()),
      per_head_norm_(config.qk_norm == "head"),
      score_divisor_(config.softmax_divisor()) {
  const int64_t h = config.hidden_size;
  auto linear = [&](int64_t in, int64_t out, bool bias) {
    return Linear(in, out, bias, parameter_options);
  };
  q_proj = register_module("q_proj", linear(h, num_heads_ * head_dim_, config.attention_bias));
  k_proj = register_module("k_proj", linear(h, num_kv_heads_ * head_dim_, config.attention_bias));
  v_proj = register_module("v_proj", linear(h, num_kv_heads_ * head_dim_, config.attention_bias));
  o_proj =
      register_module("o_proj", linear(num_heads_ * head_dim_, h, config.attention_output_bias));
  if (config.qk_norm != "none") {
    q_norm = register_module("q_norm", RMSNorm(per_head_norm_ ? head_dim_ : num_heads_ * head_dim_,
                                               config.rms_norm_eps, parameter_options));
    k_norm =
        register_module("k_norm", RMSNorm(per_head_norm_ ? head_dim_ : num_kv_heads_ * head_dim_,
                                          config.rms_norm_eps, parameter_options));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                     const LayerCacheStep* cached) {
  const int64_t batch = x.size(0);
  const int64_t seq = x.size(1);
  auto q = q_proj(x);  // [B, S, N*D]
  auto k = k_proj(x);  // [B, S, G*D]
  if (q_norm && !per_head_norm_) {
    q = q_norm(q);
    k = k_norm(k);
  }
  auto heads = [&](const torch::Tensor& t, int64_t n) {  // [B, S, n*D] -> [B, S, n, D]
    return t.view({batch, seq, n, head_dim_});
  };
  auto qh = heads(q, num_heads_);     // [B, S, N, D]
  auto kh = heads(k, num_kv_heads_);  // [B, S, G, D]
  if (q_norm && per_head_norm_) {
    qh = q_norm(qh);
    kh = k_norm(kh);
  }
  qh = apply_rotary(qh.transpose(1, 2), rotary);                     // [B, N, S, D]
  kh = apply_rotary(kh.transpose(1, 2), rotary);                     // [B, G, S, D]
  auto v = heads(v_proj(x), num_kv_heads_).transpose(1, 2);          // [B, G, S, D]
  return o_proj(self_attention(qh, kh, v, score_divisor_, cached));  // [B, S, H]
}

}  // namespace uoe
