#pragma once
#include <torch/torch.h>

#include "moe/linear.h"

namespace uoe {

// RMSNorm computed in fp32: x / sqrt(mean(x^2) + eps) * weight. x [..., H] -> [..., H].
class RMSNormImpl : public torch::nn::Module {
 public:
  // The weight unset (moe/linear.h), on parameter_options' device and in its dtype.
  RMSNormImpl(int64_t hidden_size, double eps, const torch::TensorOptions& parameter_options = {});
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [H]

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace uoe
