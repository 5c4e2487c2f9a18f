#pragma once
// Hugging Face config.json -> ModelConfig for the supported MoE architectures:
//   MixtralForCausalLM      softmax top-K router (always renormalised), no shared expert
//   Qwen2MoeForCausalLM     shared expert with sigmoid gate, decoder_sparse_step / mlp_only_layers
//   Qwen3MoeForCausalLM     per-head q/k RMSNorm, decoder_sparse_step / mlp_only_layers
//   OlmoeForCausalLM        q/k RMSNorm over the whole projection, no shared expert
//   DeepseekV2ForCausalLM   multi-head latent attention, YaRN, dense first layers, shared experts,
//                           greedy / group_limited_greedy softmax router
//   DeepseekV3ForCausalLM   as V2 with a sigmoid router, e_score_correction_bias and noaux_tc
// Both config.json styles are read: transformers 4.x (top-level rope_theta, rope_scaling) and 5.x
// (rope_parameters with rope_type, rope_theta and the YaRN fields; num_local_experts for
// Qwen3-MoE), with the same result. Keys that change the computation in a way uoe does not
// implement (hidden_act other than silu, sliding windows, clip_qkv, rope types other than
// default/yarn, a RoPE field the rope type does not use, a setting given twice with different
// values, ...) are InputErrors that name the file and key and list what is supported. A key uoe
// does not know is refused too, unless it is on the list of keys that cannot change the computation
// (token ids, dtype, use_cache, transformers_version, HF's aux-loss coefficients, ...).
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "model/model_config.h"

namespace uoe {

const std::vector<std::string>& supported_hf_architectures();

// `path` is a config.json file or a directory that holds one.
ModelConfig read_hf_config(const std::string& path);

// `file` names the source in error messages.
ModelConfig parse_hf_config(const nlohmann::json& config, const std::string& file);

// True when `dir` is a directory with a config.json (an HF model directory).
bool is_hf_model_dir(const std::string& dir);

}  // namespace uoe
