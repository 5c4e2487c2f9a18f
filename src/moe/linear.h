#pragma once
// The model's weight-holding building blocks (HF names: "weight", "bias"), made where they will
// be used: on the options' device and in its dtype, with no values yet. CausalLM::initialize or a
// checkpoint load sets every parameter afterwards, so drawing random values here (as
// torch::nn::Linear does, on the host) would be work thrown away: for a 16B model about a
// minute of host time and a host copy of the weights before they reach the GPU.
// They live in moe/ because the experts (moe/swiglu.h) are their lowest user.
#include <torch/torch.h>

namespace uoe {

// A parameter whose value comes later: NaN until set, so that a value no path sets shows up as
// NaN in the first loss instead of as a plausible number (one fill on the device, no host memory).
torch::Tensor unset_parameter(at::IntArrayRef sizes, const torch::TensorOptions& options);

// y = x W^T (+ b): x [..., in] -> [..., out], computed as PyTorch's F.linear (at::linear), which
// HF transformers uses. (LibTorch's C++ torch::nn::Linear adds the bias to inputs of more than 2
// dimensions in a separate step: biased projections may differ from it by rounding.)
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias,
             const torch::TensorOptions& parameter_options = {});
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out], undefined without bias
};
TORCH_MODULE(Linear);

// Row lookup: ids [...] int64 -> weight[ids] [..., H].
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim,
                const torch::TensorOptions& parameter_options = {});
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;  // [V, H]
};
TORCH_MODULE(Embedding);

}  // namespace uoe
