#include "io/hf_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/check.h"

namespace fs = std::filesystem;

namespace uoe {
namespace {

const std::vector<std::string> kArchitectures = {
    "MixtralForCausalLM",    "Qwen2MoeForCausalLM",   "Qwen3MoeForCausalLM",
    "OlmoeForCausalLM",      "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// Typed access to the keys of one JSON object; null counts as absent (HF writes "q_lora_rank":
// null). Errors name the file and the key.
class Keys {
 public:
  Keys(const nlohmann::json& object, std::string file, std::string prefix = "")
      : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {}

  bool has(const std::string& key) const {
    return object_.contains(key) && !object_.at(key).is_null();
  }

  template <typename T>
  T get(const std::string& key, const T& default_value) const {
    return has(key) ? convert<T>(key) : default_value;
  }

  template <typename T>
  T require(const std::string& key) const {
    UOE_CHECK(has(key), file_, ": missing key '", name(key), "'");
    return convert<T>(key);
  }

  // The key must be absent or one of `allowed` (what uoe implements).
  void expect_one_of(const std::string& key, const std::vector<std::string>& allowed) const {
    if (!has(key)) return;
    const auto value = convert<std::string>(key);
    UOE_CHECK(std::find(allowed.begin(), allowed.end(), value) != allowed.end(), file_, ": ",
              name(key), "='", value, "' is not supported; supported: ", join(allowed));
  }

  std::string name(const std::string& key) const { return prefix_ + key; }
  const std::string& file() const { return file_; }

 private:
  template <typename T>
  T convert(const std::string& key) const {
    const auto& value = object_.at(key);
    bool ok;
    if constexpr (std::is_same_v<T, bool>) ok = value.is_boolean();
    else if constexpr (std::is_integral_v<T>) ok = value.is_number_integer();
    else if constexpr (std::is_floating_point_v<T>) ok = value.is_number();
    else if constexpr (std::is_same_v<T, std::string>) ok = value.is_string();
    else ok = value.is_array();
    UOE_CHECK(ok, file_, ": key '", name(key), "' has the wrong type: ", value.dump());
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception& e) {
      UOE_CHECK(false, file_, ": key '", name(key), "': ", e.what());
    }
    return T{};
  }

  const nlohmann::json& object_;
  std::string file_;
  std::string prefix_;
};

RopeScaling parse_rope_scaling(const nlohmann::json& config, const std::string& file) {
  RopeScaling r;
  if (!config.contains("rope_scaling") || config.at("rope_scaling").is_null()) return r;
  UOE_CHECK(config.at("rope_scaling").is_object(), file, ": rope_scaling must be an object or null");
  Keys k(config.at("rope_scaling"), file, "rope_scaling.");
  const std::string type_key = k.has("rope_type") ? "rope_type" : "type";
  k.expect_one_of(type_key, {"default", "yarn"});
  r.type = k.get<std::string>(type_key, "default");
  if (!r.is_yarn()) return r;
  r.factor = k.require<double>("factor");
  r.original_max_position_embeddings = k.get<int64_t>("original_max_position_embeddings", 0);
  r.beta_fast = k.get<double>("beta_fast", r.beta_fast);
  r.beta_slow = k.get<double>("beta_slow", r.beta_slow);
  r.mscale = k.get<double>("mscale", 0.0);
  r.mscale_all_dim = k.get<double>("mscale_all_dim", 0.0);
  r.attention_factor = k.get<double>("attention_factor", 0.0);
  r.truncate = k.get<bool>("truncate", true);
  return r;
}

// Architecture defaults that differ from ModelConfig's (HF configuration classes).
struct ArchDefaults {
  double rms_norm_eps;
  double rope_theta;
};

ArchDefaults defaults_of(const std::string& arch) {
  if (arch == "MixtralForCausalLM") return {1e-5, 1e6};
  if (arch == "OlmoeForCausalLM") return {1e-5, 1e4};
  return {1e-6, 1e4};
}

void parse_common(const Keys& k, const std::string& arch, ModelConfig& c) {
  const ArchDefaults d = defaults_of(arch);
  k.expect_one_of("hidden_act", {"silu"});
  c.vocab_size = k.require<int64_t>("vocab_size");
  c.hidden_size = k.require<int64_t>("hidden_size");
  c.num_hidden_layers = k.require<int64_t>("num_hidden_layers");
  c.num_attention_heads = k.require<int64_t>("num_attention_heads");
  c.num_key_value_heads = k.get<int64_t>("num_key_value_heads", c.num_attention_heads);
  c.head_dim = k.get<int64_t>("head_dim", 0);
  c.intermediate_size = k.require<int64_t>("intermediate_size");
  c.max_position_embeddings = k.require<int64_t>("max_position_embeddings");
  c.rope_theta = k.get<double>("rope_theta", d.rope_theta);
  c.rms_norm_eps = k.get<double>("rms_norm_eps", d.rms_norm_eps);
  c.tie_word_embeddings = k.get<bool>("tie_word_embeddings", false);
  c.initializer_range = k.get<double>("initializer_range", c.initializer_range);
  const double partial = k.get<double>("partial_rotary_factor", 1.0);
  UOE_CHECK(partial == 1.0, k.file(), ": partial_rotary_factor=", partial,
            " is not supported; supported: 1.0");
}

void parse_mixtral(const Keys& k, ModelConfig& c) {
  if (k.has("sliding_window")) {
    const auto window = k.require<int64_t>("sliding_window");
    UOE_CHECK(window >= c.max_position_embeddings, k.file(), ": sliding_window=", window,
              " is not supported; supported: null or >= max_position_embeddings");
  }
  c.num_experts = k.get<int64_t>("num_local_experts", 8);
  c.num_experts_per_tok = k.get<int64_t>("num_experts_per_tok", 2);
  c.moe_intermediate_size = c.intermediate_size;  // Mixtral's experts use intermediate_size
  c.norm_topk_prob = true;                        // Mixtral always renormalises the top-K
}

void parse_qwen_moe(const Keys& k, const std::string& arch, ModelConfig& c) {
  UOE_CHECK(!k.get<bool>("use_sliding_window", false), k.file(),
            ": use_sliding_window=true is not supported; supported: false");
  c.num_experts = k.require<int64_t>("num_experts");
  c.num_experts_per_tok = k.require<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = k.require<int64_t>("moe_intermediate_size");
  c.norm_topk_prob = k.get<bool>("norm_topk_prob", false);
  c.decoder_sparse_step = k.get<int64_t>("decoder_sparse_step", 1);
  c.mlp_only_layers = k.get<std::vector<int64_t>>("mlp_only_layers", {});
  if (arch == "Qwen2MoeForCausalLM") {
    c.attention_bias = k.get<bool>("qkv_bias", true);  // q/k/v biases, none on o_proj
    c.shared_expert_intermediate_size = k.require<int64_t>("shared_expert_intermediate_size");
    UOE_CHECK(c.shared_expert_intermediate_size > 0, k.file(),
              ": shared_expert_intermediate_size must be > 0 for ", arch);
    c.shared_expert_gate = true;
  } else {
    c.attention_bias = c.attention_output_bias = k.get<bool>("attention_bias", false);
    c.qk_norm = "head";
  }
}

void parse_olmoe(const Keys& k, ModelConfig& c) {
  UOE_CHECK(!k.has("clip_qkv"), k.file(), ": clip_qkv is not supported; supported: null");
  c.num_experts = k.require<int64_t>("num_experts");
  c.num_experts_per_tok = k.require<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = c.intermediate_size;  // OLMoE's experts use intermediate_size
  c.norm_topk_prob = k.get<bool>("norm_topk_prob", false);
  c.attention_bias = c.attention_output_bias = k.get<bool>("attention_bias", false);
  c.qk_norm = "full";
}

void parse_deepseek(const Keys& k, const std::string& arch, ModelConfig& c) {
  const bool v3 = arch == "DeepseekV3ForCausalLM";
  UOE_CHECK(k.get<int64_t>("moe_layer_freq", 1) == 1, k.file(),
            ": moe_layer_freq=", k.get<int64_t>("moe_layer_freq", 1), " is not supported; supported: 1");
  UOE_CHECK(!k.get<bool>("mlp_bias", false), k.file(), ": mlp_bias=true is not supported; supported: false");
  c.num_key_value_heads = c.num_attention_heads;  // latent attention: every head has its own k/v
  c.attention_bias = k.get<bool>("attention_bias", false);
  c.kv_lora_rank = k.require<int64_t>("kv_lora_rank");
  c.q_lora_rank = k.get<int64_t>("q_lora_rank", 0);  // null: uncompressed q_proj
  c.qk_nope_head_dim = k.require<int64_t>("qk_nope_head_dim");
  c.qk_rope_head_dim = k.require<int64_t>("qk_rope_head_dim");
  c.v_head_dim = k.require<int64_t>("v_head_dim");
  c.rope_interleave = v3 ? k.get<bool>("rope_interleave", true) : true;
  c.num_experts = k.require<int64_t>("n_routed_experts");
  c.num_experts_per_tok = k.require<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = k.require<int64_t>("moe_intermediate_size");
  c.first_k_dense_replace = k.get<int64_t>("first_k_dense_replace", 0);
  c.shared_expert_intermediate_size =
      k.get<int64_t>("n_shared_experts", 0) * c.moe_intermediate_size;
  c.routed_scaling_factor = k.get<double>("routed_scaling_factor", v3 ? 2.5 : 1.0);
  c.norm_topk_prob = k.get<bool>("norm_topk_prob", v3);
  if (v3) {
    k.expect_one_of("scoring_func", {"sigmoid"});
    k.expect_one_of("topk_method", {"noaux_tc"});
    c.router_type = "deepseek_v3";
    c.n_group = k.get<int64_t>("n_group", 8);
    c.topk_group = k.get<int64_t>("topk_group", 4);
    c.num_nextn_predict_layers = k.get<int64_t>("num_nextn_predict_layers", 0);
  } else {
    k.expect_one_of("scoring_func", {"softmax"});
    k.expect_one_of("topk_method", {"greedy", "group_limited_greedy"});
    c.router_type = "deepseek_v2";
    if (k.get<std::string>("topk_method", "greedy") == "group_limited_greedy") {
      c.n_group = k.require<int64_t>("n_group");
      c.topk_group = k.require<int64_t>("topk_group");
    }  // greedy: no groups, whatever n_group says
  }
}

std::string architecture_of(const nlohmann::json& config, const std::string& file) {
  if (config.contains("architectures") && config.at("architectures").is_array() &&
      !config.at("architectures").empty()) {
    const auto& arch = config.at("architectures").at(0);
    UOE_CHECK(arch.is_string(), file, ": architectures[0] must be a string");
    return arch.get<std::string>();
  }
  // No `architectures`: fall back to model_type (configs written by hand).
  static const std::vector<std::pair<std::string, std::string>> by_model_type = {
      {"mixtral", "MixtralForCausalLM"},        {"qwen2_moe", "Qwen2MoeForCausalLM"},
      {"qwen3_moe", "Qwen3MoeForCausalLM"},     {"olmoe", "OlmoeForCausalLM"},
      {"deepseek_v2", "DeepseekV2ForCausalLM"}, {"deepseek_v3", "DeepseekV3ForCausalLM"}};
  const std::string model_type = config.value("model_type", std::string());
  for (const auto& [type, arch] : by_model_type) {
    if (type == model_type) return arch;
  }
  UOE_CHECK(false, file, ": neither 'architectures' nor a known 'model_type' (got '", model_type,
            "'); supported architectures: ", join(kArchitectures));
  return {};
}

}  // namespace

const std::vector<std::string>& supported_hf_architectures() { return kArchitectures; }

ModelConfig parse_hf_config(const nlohmann::json& config, const std::string& file) {
  UOE_CHECK(config.is_object(), file, ": expected a JSON object");
  const std::string arch = architecture_of(config, file);
  UOE_CHECK(std::find(kArchitectures.begin(), kArchitectures.end(), arch) != kArchitectures.end(),
            file, ": architectures[0]='", arch, "' is not supported; supported: ",
            join(kArchitectures));
  Keys k(config, file);
  ModelConfig c;
  c.architecture = arch;
  parse_common(k, arch, c);
  c.rope_scaling = parse_rope_scaling(config, file);
  if (arch == "MixtralForCausalLM") {
    parse_mixtral(k, c);
  } else if (arch == "Qwen2MoeForCausalLM" || arch == "Qwen3MoeForCausalLM") {
    parse_qwen_moe(k, arch, c);
  } else if (arch == "OlmoeForCausalLM") {
    parse_olmoe(k, c);
  } else {
    parse_deepseek(k, arch, c);
  }
  try {
    c.validate("config");
  } catch (const InputError& e) {
    throw InputError(c10::str(file, ": ", e.what()));
  }
  return c;
}

bool is_hf_model_dir(const std::string& dir) {
  return fs::is_directory(dir) && fs::is_regular_file(fs::path(dir) / "config.json");
}

ModelConfig read_hf_config(const std::string& path) {
  const std::string file = fs::is_directory(path) ? (fs::path(path) / "config.json").string() : path;
  UOE_CHECK(fs::is_regular_file(file), "cannot read the HF config '", file,
            "': no such file (give a config.json or the model directory that holds it)");
  std::ifstream in(file);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    UOE_CHECK(false, file, ": not valid JSON: ", e.what());
  }
  return parse_hf_config(config, file);
}

}  // namespace uoe
