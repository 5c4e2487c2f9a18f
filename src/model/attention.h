#pragma once
// Causal multi-head / grouped-query self-attention with RoPE and optional q/k RMSNorm (Qwen3-MoE
// normalises each head, OLMoE the whole projected query and key).
// Notation: B batch, S sequence, H hidden, N query heads, G key/value heads, D head dim.
#include <torch/torch.h>

#include "model/kv_cache.h"
#include "model/model_config.h"
#include "model/rms_norm.h"
#include "model/rotary.h"

namespace uoe {

// Softmax attention of q [B, N, S, Dq] over k [B, N, K, Dq], v [B, N, K, Dv] -> [B, S, N*Dv],
// logits q.k / divisor; `blocked` ([S, K] or [B, 1, S, K] bool) marks the pairs left out.
torch::Tensor masked_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double divisor,
                               const torch::Tensor& blocked);

// masked_attention with K = S, each position attending to itself and the ones before it.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double divisor);

// causal_attention, or with `cached` (incremental decoding) attention of the new tokens' q over
// the cache after k and v [B, G, S, D] are appended to it; G heads are repeated to q's N.
torch::Tensor self_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v,
                             double divisor, const LayerCacheStep* cached);

class AttentionImpl : public torch::nn::Module {
 public:
  // Parameters unset (moe/linear.h), on parameter_options' device and in its dtype.
  explicit AttentionImpl(const ModelConfig& config,
                         const torch::TensorOptions& parameter_options = {});
  // x [B, S, H] -> [B, S, H]. Right padding needs no mask: causal attention never looks ahead.
  // With `cached`, x holds only the new tokens, `rotary` their positions' tables
  // (CacheStep::rotary), and they attend to the cache as well.
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary,
                        const LayerCacheStep* cached = nullptr);

  Linear q_proj{nullptr};   // [N*D, H]
  Linear k_proj{nullptr};   // [G*D, H]
  Linear v_proj{nullptr};   // [G*D, H]
  Linear o_proj{nullptr};   // [H, N*D]
  RMSNorm q_norm{nullptr};  // qk_norm: [D] (head) or [N*D] (full)
  RMSNorm k_norm{nullptr};  // qk_norm: [D] (head) or [G*D] (full)

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_;
  bool per_head_norm_;
  double score_divisor_;
};
TORCH_MODULE(Attention);

}  // namespace uoe
