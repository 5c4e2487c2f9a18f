#pragma once
// Rotary position embedding, "rotate half" convention of HF Llama/Mixtral/Qwen.
// Notation: B batch, S sequence, N heads, D head dim.
#include <torch/torch.h>

namespace uoe {

struct RotaryTables {
  torch::Tensor cos;  // [S, D] fp32
  torch::Tensor sin;  // [S, D] fp32
};

// Tables for positions [0, seq_len).
RotaryTables make_rotary_tables(int64_t seq_len, int64_t head_dim, double theta,
                                const torch::Device& device);

// x [B, N, S, D] -> x * cos + rotate_half(x) * sin, in x's dtype.
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& tables);

}  // namespace uoe
