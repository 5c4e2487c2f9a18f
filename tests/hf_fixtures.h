#pragma once
// Test-only access to HF safetensors fixtures, until io/safetensors and io/hf_checkpoint land on
// main: a minimal reader (no validation beyond what the tests need) and the HF names of uoe's
// parameters (the renames of io/hf_names: Mixtral's block_sparse_moe / w1 w2 w3, Qwen2-MoE's
// singular shared_expert).
#include <torch/torch.h>

#include <map>
#include <string>

#include "model/causal_lm.h"

namespace uoe::test {

struct SafetensorsContents {
  std::map<std::string, torch::Tensor> tensors;  // fp32 / int64 copies
  std::map<std::string, std::string> metadata;
};

SafetensorsContents read_safetensors(const std::string& path);

std::string hf_name(const std::string& architecture, const std::string& name);

// Copies every parameter and buffer of `model` (this rank's experts only) from `dir`/model.safetensors.
void load_hf_weights(const std::string& dir, CausalLM& model);

}  // namespace uoe::test
