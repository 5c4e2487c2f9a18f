#include "model/mla_attention.h"

#include "model/attention.h"

namespace uoe {
namespace {

// DeepSeek's own code builds the low-rank norms with the RMSNorm default eps, not rms_norm_eps.
constexpr double kLatentNormEps = 1e-6;

}  // namespace

MLAttentionImpl::MLAttentionImpl(const ModelConfig& config,
                                 const torch::TensorOptions& parameter_options)
    : num_heads_(config.num_attention_heads),
      kv_lora_rank_(config.kv_lora_rank),
      nope_dim_(config.qk_nope_head_dim),
      rope_dim_(config.qk_rope_head_dim),
      v_dim_(config.v_head_dim),
      rope_interleave_(config.rope_interleave),
      score_divisor_(config.softmax_divisor()) {
  const int64_t h = config.hidden_size;
  const int64_t q_out = num_heads_ * (nope_dim_ + rope_dim_);
  auto linear = [&](int64_t in, int64_t out, bool bias) {
    return Linear(in, out, bias, parameter_options);
  };
  if (config.q_lora_rank == 0) {
    q_proj = register_module("q_proj", linear(h, q_out, false));
  } else {
    q_a_proj = register_module("q_a_proj", linear(h, config.q_lora_rank, config.attention_bias));
    q_a_layernorm = register_module("q_a_layernorm",
                                    RMSNorm(config.q_lora_rank, kLatentNormEps, parameter_options));
    q_b_proj = register_module("q_b_proj", linear(config.q_lora_rank, q_out, false));
  }
  kv_a_proj_with_mqa = register_module("kv_a_proj_with_mqa",
                                       linear(h, kv_lora_rank_ + rope_dim_, config.attention_bias));
  kv_a_layernorm =
      register_module("kv_a_layernorm", RMSNorm(kv_lora_rank_, kLatentNormEps, parameter_options));
  kv_b_proj =
      register_module("kv_b_proj", linear(kv_lora_rank_, num_heads_ * (nope_dim_ + v_dim_), false));
  o_proj = register_module("o_proj", linear(num_heads_ * v_dim_, h, config.attention_bias));
}

torch::Tensor MLAttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                       const LayerCacheStep* cached) {
  const int64_t batch = x.size(0);
  const int64_t seq = x.size(1);
  auto q = q_proj ? q_proj(x) : q_b_proj(q_a_layernorm(q_a_proj(x)));           // [B, S, N*(Dn+Dr)]
  q = q.view({batch, seq, num_heads_, nope_dim_ + rope_dim_}).transpose(1, 2);  // [B, N, S, Dn+Dr]
  auto q_nope = q.narrow(-1, 0, nope_dim_);                                     // [B, N, S, Dn]
  auto q_rope = q.narrow(-1, nope_dim_, rope_dim_);                             // [B, N, S, Dr]

  auto compressed = kv_a_proj_with_mqa(x);                // [B, S, R+Dr]
  auto latent = compressed.narrow(-1, 0, kv_lora_rank_);  // [B, S, R]
  auto k_rope = compressed.narrow(-1, kv_lora_rank_, rope_dim_)
                    .view({batch, 1, seq, rope_dim_});  // [B, 1, S, Dr]
  auto kv = kv_b_proj(kv_a_layernorm(latent))
                .view({batch, seq, num_heads_, nope_dim_ + v_dim_})
                .transpose(1, 2);                 // [B, N, S, Dn+Dv]
  auto k_nope = kv.narrow(-1, 0, nope_dim_);      // [B, N, S, Dn]
  auto value = kv.narrow(-1, nope_dim_, v_dim_);  // [B, N, S, Dv]

  if (rope_interleave_) {
    q_rope = deinterleave_pairs(q_rope);
    k_rope = deinterleave_pairs(k_rope);
  }
  q_rope = apply_rotary(q_rope, rotary);  // [B, N, S, Dr]
  k_rope =
      apply_rotary(k_rope, rotary).expand({batch, num_heads_, seq, rope_dim_});  // [B, N, S, Dr]
  auto query = torch::cat({q_nope, q_rope}, -1);                                 // [B, N, S, Dn+Dr]
  auto key = torch::cat({k_nope, k_rope}, -1);                                   // [B, N, S, Dn+Dr]
  return o_proj(self_attention(query, key, value, score_divisor_, cached));      // [B, S, H]
}

}  // namespace uoe
