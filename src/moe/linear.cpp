#include "moe/linear.h"

#include <limits>

namespace uoe {

torch::Tensor unset_parameter(at::IntArrayRef sizes, const torch::TensorOptions& options) {
  return torch::full(sizes, std::numeric_limits<double>::quiet_NaN(), options);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool bias,
                       const torch::TensorOptions& parameter_options) {
  weight =
      register_parameter("weight", unset_parameter({out_features, in_features}, parameter_options));
  if (bias) {
    this->bias = register_parameter("bias", unset_parameter({out_features}, parameter_options));
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim,
                             const torch::TensorOptions& parameter_options) {
  weight = register_parameter("weight",
                              unset_parameter({num_embeddings, embedding_dim}, parameter_options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) {
  return torch::embedding(weight, ids);
}

}  // namespace uoe
