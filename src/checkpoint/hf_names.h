#pragma once
// Hugging Face tensor names of uoe's parameters.
//
// uoe names parameters like the HF models of the DeepSeek / Qwen3-MoE / OLMoE families, without the
// "model." prefix (see model/causal_lm.h). The HF name is "model." + the uoe name (lm_head.weight
// has no prefix), with these renames:
//   MixtralForCausalLM   layers.<l>.mlp.gate.weight -> layers.<l>.block_sparse_moe.gate.weight
//                        layers.<l>.mlp.experts.<j>.{gate,up,down}_proj.weight
//                          -> layers.<l>.block_sparse_moe.experts.<j>.{w1,w3,w2}.weight
//   Qwen2MoeForCausalLM  layers.<l>.mlp.shared_experts.* -> layers.<l>.mlp.shared_expert.*
//                        (layers.<l>.mlp.shared_expert_gate.weight keeps its name)
// Every other architecture (DeepseekV2/V3, Qwen3Moe, Olmoe and uoe's own) uses the plain rule, so
// new modules named like their HF counterparts (MLA's kv_a_proj_with_mqa, q_norm, ...) need no
// entry here.
#include <string>

#include "model/model_config.h"

namespace uoe {

// `architecture` is HF's architectures[0] from config.json ("MixtralForCausalLM"); "" for uoe's
// own models.
std::string hf_parameter_name(const std::string& architecture, const std::string& name);

// Tensors an HF checkpoint may hold that the uoe model does not use: rotary inv_freq buffers,
// lm_head.weight of a model with tied embeddings, and DeepSeek-V3's multi-token-prediction layers
// (model.layers.<n>.* with n >= num_hidden_layers).
bool hf_tensor_is_unused(const std::string& architecture, const ModelConfig& config,
                         const std::string& hf_name);

}  // namespace uoe
