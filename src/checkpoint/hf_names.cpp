#include "checkpoint/hf_names.h"

#include <cctype>
#include <cstdlib>

namespace uoe {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Replaces the first `from` in `s` by `to`; returns whether there was one.
bool replace_first(std::string& s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at == std::string::npos) return false;
  s.replace(at, from.size(), to);
  return true;
}

// Mixtral: the MoE block is "block_sparse_moe" and the expert projections are w1 (gate), w3 (up)
// and w2 (down).
std::string mixtral_name(std::string name) {
  if (replace_first(name, ".mlp.gate.", ".block_sparse_moe.gate.")) return name;
  if (!replace_first(name, ".mlp.experts.", ".block_sparse_moe.experts.")) return name;
  if (!replace_first(name, ".gate_proj.", ".w1.") && !replace_first(name, ".up_proj.", ".w3.")) {
    replace_first(name, ".down_proj.", ".w2.");
  }
  return name;
}

}  // namespace

std::string hf_parameter_name(const std::string& architecture, const std::string& name) {
  std::string hf = name;
  if (architecture == "MixtralForCausalLM") {
    hf = mixtral_name(hf);
  } else if (architecture == "Qwen2MoeForCausalLM") {
    replace_first(hf, ".mlp.shared_experts.", ".mlp.shared_expert.");
  }
  return starts_with(hf, "lm_head.") ? hf : "model." + hf;
}

bool hf_tensor_is_unused(const std::string& architecture, const ModelConfig& config,
                         const std::string& hf_name) {
  if (ends_with(hf_name, ".rotary_emb.inv_freq")) return true;
  if (hf_name == "lm_head.weight") return config.tie_word_embeddings;
  const std::string layers = "model.layers.";
  if (architecture == "DeepseekV3ForCausalLM" && starts_with(hf_name, layers)) {
    const char* digits = hf_name.c_str() + layers.size();
    if (!std::isdigit(static_cast<unsigned char>(*digits))) return false;
    return std::strtoll(digits, nullptr, 10) >= config.num_hidden_layers;
  }
  return false;
}

}  // namespace uoe
