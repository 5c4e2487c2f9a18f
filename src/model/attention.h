#pragma once
// Causal multi-head / grouped-query self-attention with RoPE and optional q/k RMSNorm (Qwen3-MoE
// normalises each head, OLMoE the whole projected query and key).
// Notation: B batch, S sequence, H hidden, N query heads, G key/value heads, D head dim.
#include <torch/torch.h>

#include "model/model_config.h"
#include "model/rms_norm.h"
#include "model/rotary.h"

namespace uoe {

// Causal softmax attention of q [B, N, S, Dq], k [B, N, S, Dq], v [B, N, S, Dv] -> [B, S, N*Dv],
// logits q.k / divisor.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double divisor);

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);
  // x [B, S, H] -> [B, S, H]. Right padding needs no mask: causal attention never looks ahead.
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary);

  torch::nn::Linear q_proj{nullptr};  // [N*D, H]
  torch::nn::Linear k_proj{nullptr};  // [G*D, H]
  torch::nn::Linear v_proj{nullptr};  // [G*D, H]
  torch::nn::Linear o_proj{nullptr};  // [H, N*D]
  RMSNorm q_norm{nullptr};            // qk_norm: [D] (head) or [N*D] (full)
  RMSNorm k_norm{nullptr};            // qk_norm: [D] (head) or [G*D] (full)

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_;
  bool per_head_norm_;
  double score_divisor_;
};
TORCH_MODULE(Attention);

}  // namespace uoe
