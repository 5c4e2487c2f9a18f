#include "model/rms_norm.h"

namespace uoe {

RMSNormImpl::RMSNormImpl(int64_t hidden_size, double eps,
                         const torch::TensorOptions& parameter_options)
    : eps_(eps) {
  weight = register_parameter("weight", unset_parameter({hidden_size}, parameter_options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto x32 = x.to(torch::kFloat32);
  auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, true) + eps_);
  return weight * normed.to(x.scalar_type());
}

}  // namespace uoe
