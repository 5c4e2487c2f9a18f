#pragma once
// Causal multi-head / grouped-query self-attention with RoPE.
// Notation: B batch, S sequence, H hidden, N query heads, G key/value heads, D head dim.
#include <torch/torch.h>

#include "model/model_config.h"
#include "model/rotary.h"

namespace uoe {

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);
  // x [B, S, H] -> [B, S, H]. Right padding needs no mask: causal attention never looks ahead.
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary);

  torch::nn::Linear q_proj{nullptr};  // [N*D, H]
  torch::nn::Linear k_proj{nullptr};  // [G*D, H]
  torch::nn::Linear v_proj{nullptr};  // [G*D, H]
  torch::nn::Linear o_proj{nullptr};  // [H, N*D]

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

}  // namespace uoe
