#include "model/decoder_layer.h"

namespace uoe {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& config, int64_t layer_index, ProcessGroup ep,
                                   const torch::TensorOptions& parameter_options) {
  input_layernorm = register_module(
      "input_layernorm", RMSNorm(config.hidden_size, config.rms_norm_eps, parameter_options));
  if (config.is_mla()) {
    mla_attn = register_module("self_attn", MLAttention(config, parameter_options));
  } else {
    self_attn = register_module("self_attn", Attention(config, parameter_options));
  }
  post_attention_layernorm =
      register_module("post_attention_layernorm",
                      RMSNorm(config.hidden_size, config.rms_norm_eps, parameter_options));
  if (config.is_moe_layer(layer_index)) {
    MoELayerOptions moe;
    moe.router = config.router_options();
    moe.expert_intermediate_size = config.moe_intermediate_size;
    moe.shared_intermediate_size = config.shared_expert_intermediate_size;
    moe.shared_expert_gate = config.shared_expert_gate;
    moe_mlp = register_module("mlp", MoELayer(moe, std::move(ep), parameter_options));
  } else {
    dense_mlp = register_module(
        "mlp", SwiGLU(config.hidden_size, config.intermediate_size, parameter_options));
  }
}

void DecoderLayerImpl::set_profiler(StepProfiler* profiler, int layer) {
  profiler_ = profiler;
  layer_ = layer;
  if (is_moe()) moe_mlp->set_profiler(profiler, layer);
}

DecoderOutput DecoderLayerImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                        const LayerCacheStep* cached, ExchangeRecord* record) {
  DecoderOutput out;
  torch::Tensor h;  // [B, S, H]
  {
    const StepProfiler::Scope timer(profiler_, "attention", layer_);
    auto normed_x = input_layernorm(x);
    h = x + (mla_attn ? mla_attn->forward(normed_x, rotary, cached)
                      : self_attn->forward(normed_x, rotary, cached));
  }
  auto normed = post_attention_layernorm(h);
  auto tokens = normed.reshape({-1, normed.size(-1)});  // [T, H]
  if (is_moe()) {
    out.moe = moe_mlp->forward(tokens, record);
    out.hidden = h + out.moe->hidden.view_as(h);
  } else {
    out.hidden = h + dense_mlp->forward(tokens).view_as(h);
  }
  return out;
}

}  // namespace uoe
