#include "model/attention.h"

#include <cmath>

namespace uoe {

AttentionImpl::AttentionImpl(const ModelConfig& config)
    : num_heads_(config.num_attention_heads),
      num_kv_heads_(config.num_key_value_heads),
      head_dim_(config.resolved_head_dim()) {
  const int64_t h = config.hidden_size;
  auto linear = [](int64_t in, int64_t out, bool bias) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
  };
  q_proj = register_module("q_proj", linear(h, num_heads_ * head_dim_, config.attention_bias));
  k_proj = register_module("k_proj", linear(h, num_kv_heads_ * head_dim_, config.attention_bias));
  v_proj = register_module("v_proj", linear(h, num_kv_heads_ * head_dim_, config.attention_bias));
  o_proj = register_module("o_proj", linear(num_heads_ * head_dim_, h, false));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rotary) {
  const int64_t batch = x.size(0);
  const int64_t seq = x.size(1);
  auto heads = [&](const torch::Tensor& t, int64_t n) {  // [B, S, n*D] -> [B, n, S, D]
    return t.view({batch, seq, n, head_dim_}).transpose(1, 2);
  };
  auto q = apply_rotary(heads(q_proj(x), num_heads_), rotary);     // [B, N, S, D]
  auto k = apply_rotary(heads(k_proj(x), num_kv_heads_), rotary);  // [B, G, S, D]
  auto v = heads(v_proj(x), num_kv_heads_);                        // [B, G, S, D]
  if (num_kv_heads_ != num_heads_) {
    const int64_t groups = num_heads_ / num_kv_heads_;
    k = k.repeat_interleave(groups, 1);  // [B, N, S, D]
    v = v.repeat_interleave(groups, 1);  // [B, N, S, D]
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(head_dim_));  // [B,N,S,S]
  auto future = torch::ones({seq, seq}, torch::TensorOptions().dtype(torch::kBool).device(x.device()))
                    .triu(1);  // [S, S]
  scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores.to(torch::kFloat32), -1).to(v.scalar_type());
  auto context = torch::matmul(probs, v);  // [B, N, S, D]
  return o_proj(context.transpose(1, 2).reshape({batch, seq, num_heads_ * head_dim_}));
}

}  // namespace uoe
