#pragma once
// Pre-norm decoder block: x + attn(norm(x)), then + ffn(norm(.)), where ffn is an MoE layer or a
// dense SwiGLU block. Notation: B batch, S sequence, H hidden, T = B*S tokens.
#include <torch/torch.h>

#include <optional>

#include "model/attention.h"
#include "model/mla_attention.h"
#include "model/rms_norm.h"
#include "moe/moe_layer.h"

namespace uoe {

struct DecoderOutput {
  torch::Tensor hidden;          // [B, S, H]
  std::optional<MoEOutput> moe;  // routing of this layer when it is an MoE layer
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  // Parameters unset (moe/linear.h), on parameter_options' device and in its dtype.
  DecoderLayerImpl(const ModelConfig& config, int64_t layer_index, ProcessGroup ep,
                   const torch::TensorOptions& parameter_options = {});
  // `cached`: incremental decoding (AttentionImpl::forward); the MoE layer routes only x's tokens.
  // `record`: recomputation of an MoE layer (MoELayerImpl::forward, model/recompute.h).
  DecoderOutput forward(const torch::Tensor& x, const RotaryTables& rotary,
                        const LayerCacheStep* cached = nullptr, ExchangeRecord* record = nullptr);

  bool is_moe() const { return !moe_mlp.is_empty(); }

  // Reports attention (and the MoE layer's phases) to `profiler` (null = none) as layer `layer`.
  void set_profiler(StepProfiler* profiler, int layer);

  RMSNorm input_layernorm{nullptr};
  Attention self_attn{nullptr};   // registered as "self_attn" (MHA/GQA)
  MLAttention mla_attn{nullptr};  // registered as "self_attn" (multi-head latent attention)
  RMSNorm post_attention_layernorm{nullptr};
  MoELayer moe_mlp{nullptr};  // registered as "mlp" on MoE layers
  SwiGLU dense_mlp{nullptr};  // registered as "mlp" on dense layers

 private:
  StepProfiler* profiler_ = nullptr;
  int layer_ = StepProfiler::kNoLayer;
};
TORCH_MODULE(DecoderLayer);

}  // namespace uoe
