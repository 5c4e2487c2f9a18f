#pragma once
// Decoder-only causal language model with MoE feed-forward layers and expert parallelism.
// Notation: B batch, S sequence, H hidden, V vocabulary, L layers, E experts, K top-k, T = B*S.
//
// Parameter names: embed_tokens.weight, layers.<l>.{input_layernorm,self_attn.{q,k,v,o}_proj,
// post_attention_layernorm,mlp...}, norm.weight, lm_head.weight (absent when tied). Routed experts
// are layers.<l>.mlp.experts.<global id>.*, so names do not depend on ep_size.
#include <torch/torch.h>

#include <map>

#include "model/decoder_layer.h"
#include "model/kv_cache.h"
#include "model/model_config.h"

namespace uoe {

struct CausalLMOutput {
  torch::Tensor logits;              // [B, S, V] fp32
  std::map<int64_t, MoEOutput> moe;  // layer index -> routing of that MoE layer
  torch::Tensor captured_hidden;     // [B, S, H] output of layer `capture_layer` (if asked)
};

class CausalLMImpl : public torch::nn::Module {
 public:
  // Parameters are created on `device` in `dtype` (kFloat32 or kBFloat16) without values: NaN
  // until initialize() or a checkpoint load sets them (moe/linear.h). So the weights are never on
  // the host on their way to a GPU, and a bf16 model never has an fp32 copy. Activations follow
  // the weights; logits, router scores, norms and attention probabilities are computed in fp32.
  CausalLMImpl(const ModelConfig& config, ProcessGroup ep, torch::Dtype dtype = torch::kFloat32,
               torch::Device device = torch::kCPU);

  // input_ids [B, S] int64 -> logits and routing. Collective over the EP group.
  // capture_layer >= 0 also returns that decoder layer's output (residual stream).
  CausalLMOutput forward(const torch::Tensor& input_ids, int64_t capture_layer = -1);

  // Empty cache for up to `capacity` positions per row (at most max_position_embeddings).
  KVCache make_cache(int64_t capacity) const;
  // Incremental decoding: input_ids [B, S] are new tokens at `positions` [B, S] int64 (each row's
  // own), attending to what the cache holds at earlier positions of that row; their keys and
  // values are added to the cache. Logits [B, S, V] as forward gives at those positions of the
  // whole sequence. Collective over the EP group (the MoE layers route the B*S new tokens).
  CausalLMOutput forward_cached(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                KVCache& cache);

  // Parameters split for gradient synchronisation; same order on every rank of each group.
  std::vector<torch::Tensor> dense_parameters() const;
  std::vector<torch::Tensor> expert_parameters() const;
  static bool is_expert_parameter(const std::string& name);

  // Layout-independent deterministic initialisation (see model/init.h).
  void initialize(uint64_t seed);

  // Makes all parameters trainable (pretraining) on every rank.
  void set_all_trainable();

  const ModelConfig& config() const { return config_; }
  torch::Dtype dtype() const { return dtype_; }
  // Where the parameters live (the constructor's device, or Module::to's).
  torch::Device device() const { return embed_tokens->weight.device(); }
  std::vector<MoELayer> moe_layers() const;

  // Every decoder layer reports its phases to `profiler` (null = none) under its index. The
  // profiler must outlive every graph built while it is set.
  void set_profiler(StepProfiler* profiler);
  // MoELayerImpl::set_dispatch_options on every MoE layer.
  void set_dispatch_options(const DispatchOptions& options);
  // `gradient_checkpointing`: forward (not forward_cached) recomputes each decoder layer in
  // backward (model/recompute.h); the same losses and gradients with less memory. Off by default.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }

  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  // Embedding, decoder layers (with `cache`: incremental, CacheStep of the cache), norm, head.
  CausalLMOutput run_layers(const torch::Tensor& input_ids, const RotaryTables& rotary,
                            int64_t capture_layer, KVCache* cache);

  ModelConfig config_;
  torch::Dtype dtype_;
  std::vector<DecoderLayer> decoder_layers_;
  bool gradient_checkpointing_ = false;
};
TORCH_MODULE(CausalLM);

// Sum of next-token cross-entropy over positions with loss_mask = 1.
// logits [B, S, V], labels [B, S] int64 (predicting labels[b, s] from position s), mask [B, S].
torch::Tensor token_nll_sum(const torch::Tensor& logits, const torch::Tensor& labels,
                            const torch::Tensor& mask);

}  // namespace uoe
