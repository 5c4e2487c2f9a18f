#pragma once
// SwiGLU feed-forward block: down(silu(gate(x)) * up(x)), no biases (HF
// gate_proj/up_proj/down_proj). Used for routed experts, shared experts and dense feed-forward
// layers.
#include <torch/torch.h>

namespace uoe {

class SwiGLUImpl : public torch::nn::Module {
 public:
  SwiGLUImpl(int64_t hidden_size, int64_t intermediate_size);
  // x [N, H] -> [N, H]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear gate_proj{nullptr};  // [F, H]
  torch::nn::Linear up_proj{nullptr};    // [F, H]
  torch::nn::Linear down_proj{nullptr};  // [H, F]
};
TORCH_MODULE(SwiGLU);

}  // namespace uoe
