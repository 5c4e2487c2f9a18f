#include "model/causal_lm.h"

#include "common/check.h"
#include "model/init.h"
#include "model/recompute.h"

namespace uoe {

CausalLMImpl::CausalLMImpl(const ModelConfig& config, ProcessGroup ep, torch::Dtype dtype,
                           torch::Device device)
    : config_(config), dtype_(dtype) {
  config.validate("model");
  UOE_ASSERT(dtype == torch::kFloat32 || dtype == torch::kBFloat16,
             "CausalLM: dtype must be float32 or bfloat16, got ", dtype);
  const auto parameter_options = torch::TensorOptions().dtype(dtype).device(device);
  embed_tokens = register_module(
      "embed_tokens", Embedding(config.vocab_size, config.hidden_size, parameter_options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    decoder_layers_.push_back(DecoderLayer(config, l, ep, parameter_options));
    layers->push_back(decoder_layers_.back());
  }
  norm =
      register_module("norm", RMSNorm(config.hidden_size, config.rms_norm_eps, parameter_options));
  if (!config.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head", Linear(config.hidden_size, config.vocab_size, false, parameter_options));
  }
}

CausalLMOutput CausalLMImpl::forward(const torch::Tensor& input_ids, int64_t capture_layer) {
  const int64_t seq = input_ids.size(1);
  UOE_CHECK(seq <= config_.max_position_embeddings, "sequence length ", seq,
            " exceeds model.max_position_embeddings=", config_.max_position_embeddings);
  return run_layers(input_ids, make_rotary_tables(config_, seq, input_ids.device()), capture_layer,
                    nullptr);
}

KVCache CausalLMImpl::make_cache(int64_t capacity) const {
  UOE_CHECK(capacity <= config_.max_position_embeddings, "sequence length ", capacity,
            " exceeds model.max_position_embeddings=", config_.max_position_embeddings);
  return KVCache(config_.num_hidden_layers, capacity,
                 make_rotary_tables(config_, capacity, embed_tokens->weight.device()));
}

CausalLMOutput CausalLMImpl::forward_cached(const torch::Tensor& input_ids,
                                            const torch::Tensor& positions, KVCache& cache) {
  const CacheStep& step = cache.begin_step(positions);
  return run_layers(input_ids, step.rotary, -1, &cache);
}

CausalLMOutput CausalLMImpl::run_layers(const torch::Tensor& input_ids, const RotaryTables& rotary,
                                        int64_t capture_layer, KVCache* cache) {
  CausalLMOutput out;
  auto hidden = embed_tokens(input_ids);  // [B, S, H]
  for (size_t l = 0; l < decoder_layers_.size(); ++l) {
    std::optional<LayerCacheStep> cached;
    if (cache) cached.emplace(cache->layer(l));
    auto layer_out = gradient_checkpointing_ && !cache
                         ? recomputed_forward(decoder_layers_[l], hidden, rotary)
                         : decoder_layers_[l]->forward(hidden, rotary, cached ? &*cached : nullptr);
    hidden = layer_out.hidden;
    if (static_cast<int64_t>(l) == capture_layer) out.captured_hidden = hidden;
    if (layer_out.moe) out.moe.emplace(static_cast<int64_t>(l), std::move(*layer_out.moe));
  }
  hidden = norm(hidden);
  auto head = lm_head ? lm_head->weight : embed_tokens->weight;      // [V, H]
  out.logits = torch::matmul(hidden, head.t()).to(torch::kFloat32);  // [B, S, V]
  return out;
}

bool CausalLMImpl::is_expert_parameter(const std::string& name) {
  return name.find(".mlp.experts.") != std::string::npos;
}

std::vector<torch::Tensor> CausalLMImpl::dense_parameters() const {
  std::vector<torch::Tensor> params;
  for (const auto& item : named_parameters()) {
    if (!is_expert_parameter(item.key())) params.push_back(item.value());
  }
  return params;
}

std::vector<torch::Tensor> CausalLMImpl::expert_parameters() const {
  std::vector<torch::Tensor> params;
  for (const auto& item : named_parameters()) {
    if (is_expert_parameter(item.key())) params.push_back(item.value());
  }
  return params;
}

void CausalLMImpl::initialize(uint64_t seed) {
  initialize_parameters(*this, seed, config_.initializer_range);
}

void CausalLMImpl::set_all_trainable() {
  for (auto& p : parameters()) p.set_requires_grad(true);
  for (auto& moe : moe_layers()) {
    std::vector<int64_t> all(config_.num_experts);
    for (int64_t e = 0; e < config_.num_experts; ++e) all[e] = e;
    moe->experts->set_trainable_experts(all);
  }
}

void CausalLMImpl::set_profiler(StepProfiler* profiler) {
  for (size_t l = 0; l < decoder_layers_.size(); ++l) {
    decoder_layers_[l]->set_profiler(profiler, static_cast<int>(l));
  }
}

void CausalLMImpl::set_dispatch_options(const DispatchOptions& options) {
  for (auto& moe : moe_layers()) moe->set_dispatch_options(options);
}

std::vector<MoELayer> CausalLMImpl::moe_layers() const {
  std::vector<MoELayer> result;
  for (const auto& layer : decoder_layers_) {
    if (layer->is_moe()) result.push_back(layer->moe_mlp);
  }
  return result;
}

torch::Tensor token_nll_sum(const torch::Tensor& logits, const torch::Tensor& labels,
                            const torch::Tensor& mask) {
  const int64_t vocab = logits.size(-1);
  auto nll = torch::nn::functional::cross_entropy(
      logits.reshape({-1, vocab}), labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));  // [B*S]
  return (nll * mask.reshape({-1}).to(nll.scalar_type())).sum();
}

}  // namespace uoe
