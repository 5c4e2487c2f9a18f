#pragma once
// Multi-head latent attention (DeepSeek-V2/V3). Keys and values come from a compressed latent
// c_kv = kv_a_layernorm(kv_a_proj_with_mqa(x)[:, :R]) expanded by kv_b_proj; the query optionally
// from a compressed q_a_proj -> q_a_layernorm -> q_b_proj. RoPE acts only on a decoupled part of
// each head (Dr dims): the query's own, and one key part shared by all heads.
// Notation: B batch, S sequence, H hidden, N heads, R kv_lora_rank, Rq q_lora_rank,
// Dn qk_nope_head_dim, Dr qk_rope_head_dim, Dv v_head_dim.
#include <torch/torch.h>

#include "model/kv_cache.h"
#include "model/model_config.h"
#include "model/rms_norm.h"
#include "model/rotary.h"

namespace uoe {

class MLAttentionImpl : public torch::nn::Module {
 public:
  // Parameters unset (moe/linear.h), on parameter_options' device and in its dtype.
  explicit MLAttentionImpl(const ModelConfig& config,
                           const torch::TensorOptions& parameter_options = {});
  // x [B, S, H] -> [B, S, H], causal; `cached` as in AttentionImpl::forward (the cache holds each
  // head's key, nope and rotated rope parts, and value, as HF transformers caches them).
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary,
                        const LayerCacheStep* cached = nullptr);

  Linear q_proj{nullptr};              // [N*(Dn+Dr), H] when q_lora_rank = 0
  Linear q_a_proj{nullptr};            // [Rq, H] otherwise
  RMSNorm q_a_layernorm{nullptr};      // [Rq]
  Linear q_b_proj{nullptr};            // [N*(Dn+Dr), Rq]
  Linear kv_a_proj_with_mqa{nullptr};  // [R+Dr, H]
  RMSNorm kv_a_layernorm{nullptr};     // [R]
  Linear kv_b_proj{nullptr};           // [N*(Dn+Dv), R]
  Linear o_proj{nullptr};              // [H, N*Dv]

 private:
  int64_t num_heads_, kv_lora_rank_, nope_dim_, rope_dim_, v_dim_;
  bool rope_interleave_;
  double score_divisor_;
};
TORCH_MODULE(MLAttention);

}  // namespace uoe
