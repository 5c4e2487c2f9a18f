#pragma once
// Rotary position embedding, "rotate half" convention of HF Llama/Mixtral/Qwen, with optional YaRN
// frequency interpolation (DeepSeek-V2/V3, Qwen3 long context).
// Notation: B batch, S sequence, N heads, D rotary dim.
#include <torch/torch.h>

#include "model/model_config.h"

namespace uoe {

struct RotaryTables {
  torch::Tensor cos;  // [S, D] fp32, times the YaRN attention factor
  torch::Tensor sin;  // [S, D] fp32, times the YaRN attention factor
};

// YaRN's magnitude correction 0.1 * mscale * ln(scale) + 1 (1 when scale <= 1).
double yarn_mscale(double scale, double mscale);

// Inverse frequencies [D/2] fp32 and the factor on cos/sin, for `rope_scaling` of the config.
std::pair<torch::Tensor, double> rotary_inverse_frequencies(const ModelConfig& config,
                                                            const torch::Device& device);

// Tables for positions [0, seq_len) of the model's rotary dim (MLA: qk_rope_head_dim).
RotaryTables make_rotary_tables(const ModelConfig& config, int64_t seq_len,
                                const torch::Device& device);

// x [B, N, S, D] -> x * cos + rotate_half(x) * sin, in x's dtype.
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables);

// [..., D] with interleaved pairs (x0, x1), (x2, x3), ... -> [..., D] as (x0, x2, ..., x1, x3,
// ...), so that rotate-half rotates the pairs DeepSeek's weights expect (its rope acts on pairs).
torch::Tensor deinterleave_pairs(const torch::Tensor& x);

}  // namespace uoe
