#pragma once
// SwiGLU feed-forward block: down(silu(gate(x)) * up(x)), no biases (HF
// gate_proj/up_proj/down_proj). Used for routed experts, shared experts and dense feed-forward
// layers.
#include <torch/torch.h>

#include "moe/linear.h"

namespace uoe {

class SwiGLUImpl : public torch::nn::Module {
 public:
  // Parameters unset (moe/linear.h), on parameter_options' device and in its dtype.
  SwiGLUImpl(int64_t hidden_size, int64_t intermediate_size,
             const torch::TensorOptions& parameter_options = {});
  // x [N, H] -> [N, H]
  torch::Tensor forward(const torch::Tensor& x);

  Linear gate_proj{nullptr};  // [F, H]
  Linear up_proj{nullptr};    // [F, H]
  Linear down_proj{nullptr};  // [H, F]
};
TORCH_MODULE(SwiGLU);

}  // namespace uoe
