#include "checkpoint/hf_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/check.h"
#include "common/config_node.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace uoe {
namespace {

const std::vector<std::string> kArchitectures = {"MixtralForCausalLM",    "Qwen2MoeForCausalLM",
                                                 "Qwen3MoeForCausalLM",   "OlmoeForCausalLM",
                                                 "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"};

// Keys that do not change what uoe computes, accepted for every architecture: provenance and
// metadata, token ids, what HF returns, HF's load-balancing loss coefficients (uoe's own training
// losses are set in its config), DeepSeek's deployment hints, generation defaults that
// transformers < 4.30 wrote at the top level (uoe's decoding is set in its config), and the storage
// format (quantization_config: the weight loader checks every tensor's dtype and refuses FP8).
const std::set<std::string> kInertKeys = {"_name_or_path",
                                          "architectures",
                                          "model_type",
                                          "transformers_version",
                                          "auto_map",
                                          "dtype",
                                          "torch_dtype",
                                          "use_cache",
                                          "return_dict",
                                          "output_attentions",
                                          "output_hidden_states",
                                          "output_router_logits",
                                          "id2label",
                                          "label2id",
                                          "num_labels",
                                          "problem_type",
                                          "is_encoder_decoder",
                                          "chunk_size_feed_forward",
                                          "tokenizer_class",
                                          "prefix",
                                          "task_specific_params",
                                          "finetuning_task",
                                          "torchscript",
                                          "use_bfloat16",
                                          "tf_legacy_loss",
                                          "bos_token_id",
                                          "eos_token_id",
                                          "pad_token_id",
                                          "sep_token_id",
                                          "decoder_start_token_id",
                                          "router_aux_loss_coef",
                                          "aux_loss_alpha",
                                          "seq_aux",
                                          "ep_size",
                                          "pretraining_tp",
                                          "quantization_config",
                                          "max_length",
                                          "min_length",
                                          "do_sample",
                                          "early_stopping",
                                          "num_beams",
                                          "num_beam_groups",
                                          "diversity_penalty",
                                          "temperature",
                                          "top_k",
                                          "top_p",
                                          "typical_p",
                                          "repetition_penalty",
                                          "length_penalty",
                                          "no_repeat_ngram_size",
                                          "encoder_no_repeat_ngram_size",
                                          "bad_words_ids",
                                          "num_return_sequences",
                                          "output_scores",
                                          "return_dict_in_generate",
                                          "forced_bos_token_id",
                                          "forced_eos_token_id",
                                          "remove_invalid_values",
                                          "exponential_decay_length_penalty",
                                          "suppress_tokens",
                                          "begin_suppress_tokens"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// JSON values that mean the same setting (10000 and 10000.0 are equal).
bool same_value(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

// Typed access to the keys of one JSON object; null counts as absent (HF writes "q_lora_rank":
// null). Every key looked at is remembered, so that reject_unread() can refuse the others. Errors
// name the file and the key (`names` maps a key to the name it has in the file, where they differ).
class Keys {
 public:
  Keys(const nlohmann::json& object, std::string file,
       std::map<std::string, std::string> names = {})
      : object_(object), file_(std::move(file)), names_(std::move(names)) {}

  bool has(const std::string& key) const {
    seen_.insert(key);
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

  // Of keys that name one setting (HF's attribute_map aliases, e.g. num_experts and
  // num_local_experts), the one present (the first when none is); two present must agree.
  std::string pick(const std::vector<std::string>& keys) const {
    std::string chosen;
    for (const auto& key : keys) {
      if (!has(key)) continue;
      if (chosen.empty()) {
        chosen = key;
        continue;
      }
      UOE_CHECK(same_value(object_.at(key), object_.at(chosen)), file_, ": ", name(key), "=",
                object_.at(key).dump(), " conflicts with ", name(chosen), "=",
                object_.at(chosen).dump());
    }
    return chosen.empty() ? keys.front() : chosen;
  }

  // The key must be absent or one of `allowed` (what uoe implements).
  void expect_one_of(const std::string& key, const std::vector<std::string>& allowed) const {
    if (!has(key)) return;
    const auto value = convert<std::string>(key);
    UOE_CHECK(std::find(allowed.begin(), allowed.end(), value) != allowed.end(), file_, ": ",
              name(key), "='", value, "' is not supported; supported: ", join(allowed));
  }

  // The key must be absent or equal to `supported` (the only value uoe implements).
  void expect_number(const std::string& key, double supported) const {
    if (!has(key)) return;
    const auto value = convert<double>(key);
    UOE_CHECK(value == supported, file_, ": ", name(key), "=", value,
              " is not supported; supported: ", supported);
  }

  // Keys this architecture accepts without using them (the caller says why).
  void accept(const std::vector<std::string>& keys) const {
    seen_.insert(keys.begin(), keys.end());
  }

  // Every key that was neither looked at nor is in `inert` may change the computation in a way
  // uoe does not implement: the first one is an error, with a "did you mean" hint.
  void reject_unread(const std::set<std::string>& inert, const std::string& context) const {
    for (const auto& item : object_.items()) {
      const std::string& key = item.key();
      if (seen_.count(key) || inert.count(key)) continue;
      std::string hint;
      size_t best = 3;  // hint only for close misspellings
      for (const auto& known : seen_) {
        const size_t d = edit_distance(key, known);
        if (d < best) best = d, hint = "; did you mean '" + name(known) + "'?";
      }
      UOE_CHECK(false, file_, ": key '", name(key), "' is not known to uoe for ", context,
                "; it may change the computation, so it is refused (remove it if it does not)",
                hint);
    }
  }

  std::string name(const std::string& key) const {
    const auto it = names_.find(key);
    return it == names_.end() ? key : it->second;
  }
  const std::string& file() const { return file_; }

 private:
  template <typename T>
  T convert(const std::string& key) const {
    const auto& value = object_.at(key);
    bool ok;
    if constexpr (std::is_same_v<T, bool>)
      ok = value.is_boolean();
    else if constexpr (std::is_integral_v<T>)
      ok = value.is_number_integer();
    else if constexpr (std::is_floating_point_v<T>)
      ok = value.is_number();
    else if constexpr (std::is_same_v<T, std::string>)
      ok = value.is_string();
    else
      ok = value.is_array();
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
  std::map<std::string, std::string> names_;
  mutable std::set<std::string> seen_;
};

// RoPE as transformers 4.x writes it (top-level rope_theta and partial_rotary_factor, rope_scaling
// with `type` and/or `rope_type`) and as 5.x does (rope_parameters holding rope_type, rope_theta
// and the scaling fields). The places are merged field by field; a field given twice with
// different values is an error naming both keys, and a field the rope type does not use is refused.
void parse_rope(const Keys& top, const nlohmann::json& config, double default_theta,
                ModelConfig& c) {
  nlohmann::json merged = nlohmann::json::object();
  std::map<std::string, std::string> origin;  // field -> the key it came from
  auto add = [&](const std::string& field, const nlohmann::json& value, const std::string& from) {
    if (value.is_null()) return;
    if (origin.count(field)) {
      UOE_CHECK(same_value(merged.at(field), value), top.file(), ": ", from, "=", value.dump(),
                " conflicts with ", origin.at(field), "=", merged.at(field).dump());
      return;
    }
    merged[field] = value;
    origin[field] = from;
  };
  for (const std::string key : {"rope_theta", "partial_rotary_factor"}) {
    if (top.has(key)) add(key, config.at(key), key);
  }
  for (const std::string section : {"rope_scaling", "rope_parameters"}) {
    if (!top.has(section)) continue;
    UOE_CHECK(config.at(section).is_object(), top.file(), ": ", section,
              " must be an object or null");
    for (const auto& item : config.at(section).items()) {
      add(item.key() == "type" ? "rope_type" : item.key(), item.value(),
          section + "." + item.key());
    }
  }
  Keys k(merged, top.file(), origin);
  k.expect_one_of("rope_type", {"default", "yarn"});
  k.expect_number("partial_rotary_factor", 1.0);
  c.rope_theta = k.get<double>("rope_theta", default_theta);
  RopeScaling& r = c.rope_scaling;
  r.type = k.get<std::string>("rope_type", "default");
  if (r.is_yarn()) {
    r.factor = k.require<double>("factor");
    r.original_max_position_embeddings = k.get<int64_t>("original_max_position_embeddings", 0);
    r.beta_fast = k.get<double>("beta_fast", r.beta_fast);
    r.beta_slow = k.get<double>("beta_slow", r.beta_slow);
    r.mscale = k.get<double>("mscale", 0.0);
    r.mscale_all_dim = k.get<double>("mscale_all_dim", 0.0);
    r.attention_factor = k.get<double>("attention_factor", 0.0);
    UOE_CHECK(!k.has("attention_factor") || r.attention_factor > 0, top.file(), ": ",
              k.name("attention_factor"), " must be > 0, got ", r.attention_factor);
    r.truncate = k.get<bool>("truncate", true);
  }
  k.reject_unread({}, "rope_type '" + r.type + "'");
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

void parse_common(const Keys& k, const nlohmann::json& config, const std::string& arch,
                  ModelConfig& c) {
  const ArchDefaults d = defaults_of(arch);
  k.expect_one_of("hidden_act", {"silu"});
  k.expect_number("attention_dropout", 0.0);  // uoe trains without dropout
  c.vocab_size = k.require<int64_t>("vocab_size");
  c.hidden_size = k.require<int64_t>("hidden_size");
  c.num_hidden_layers = k.require<int64_t>("num_hidden_layers");
  c.num_attention_heads = k.require<int64_t>("num_attention_heads");
  c.num_key_value_heads = k.get<int64_t>("num_key_value_heads", c.num_attention_heads);
  c.head_dim = k.get<int64_t>("head_dim", 0);
  c.intermediate_size = k.require<int64_t>("intermediate_size");
  c.max_position_embeddings = k.require<int64_t>("max_position_embeddings");
  c.rms_norm_eps = k.get<double>("rms_norm_eps", d.rms_norm_eps);
  c.tie_word_embeddings = k.get<bool>("tie_word_embeddings", false);
  c.initializer_range = k.get<double>("initializer_range", c.initializer_range);
  parse_rope(k, config, d.rope_theta, c);
}

void parse_mixtral(const Keys& k, ModelConfig& c) {
  if (k.has("sliding_window")) {
    const auto window = k.require<int64_t>("sliding_window");
    UOE_CHECK(window >= c.max_position_embeddings, k.file(), ": sliding_window=", window,
              " is not supported; supported: null or >= max_position_embeddings");
  }
  k.expect_number("router_jitter_noise", 0.0);
  c.num_experts = k.get<int64_t>(k.pick({"num_local_experts", "num_experts"}), 8);
  c.num_experts_per_tok = k.get<int64_t>("num_experts_per_tok", 2);
  c.moe_intermediate_size = c.intermediate_size;  // Mixtral's experts use intermediate_size
  c.norm_topk_prob = true;                        // Mixtral always renormalises the top-K
}

void parse_qwen_moe(const Keys& k, const std::string& arch, ModelConfig& c) {
  UOE_CHECK(!k.get<bool>("use_sliding_window", false), k.file(),
            ": use_sliding_window=true is not supported; supported: false");
  // Without use_sliding_window, transformers ignores the window (5.x writes 0 or null).
  k.accept({"sliding_window", "max_window_layers"});
  for (const auto& type : k.get<std::vector<std::string>>("layer_types", {})) {
    UOE_CHECK(type == "full_attention", k.file(), ": layer_types contains '", type,
              "'; supported: full_attention only");
  }
  // transformers 5 writes Qwen3-MoE's expert count as num_local_experts (attribute_map).
  c.num_experts = k.require<int64_t>(k.pick({"num_experts", "num_local_experts"}));
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
  c.num_experts = k.require<int64_t>(k.pick({"num_experts", "num_local_experts"}));
  c.num_experts_per_tok = k.require<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = c.intermediate_size;  // OLMoE's experts use intermediate_size
  c.norm_topk_prob = k.get<bool>("norm_topk_prob", false);
  c.attention_bias = c.attention_output_bias = k.get<bool>("attention_bias", false);
  c.qk_norm = "full";
}

void parse_deepseek(const Keys& k, const std::string& arch, ModelConfig& c) {
  const bool v3 = arch == "DeepseekV3ForCausalLM";
  k.expect_number("moe_layer_freq", 1);
  UOE_CHECK(!k.get<bool>("mlp_bias", false), k.file(),
            ": mlp_bias=true is not supported; supported: false");
  // transformers overwrites head_dim with qk_rope_head_dim and derives qk_head_dim; latent
  // attention gives every head its own k/v whatever num_key_value_heads says.
  k.accept({"head_dim", "qk_head_dim"});
  c.head_dim = 0;
  c.num_key_value_heads = c.num_attention_heads;
  c.attention_bias = k.get<bool>("attention_bias", false);
  c.kv_lora_rank = k.require<int64_t>("kv_lora_rank");
  c.q_lora_rank = k.get<int64_t>("q_lora_rank", 0);  // null: uncompressed q_proj
  c.qk_nope_head_dim = k.require<int64_t>("qk_nope_head_dim");
  c.qk_rope_head_dim = k.require<int64_t>("qk_rope_head_dim");
  c.v_head_dim = k.require<int64_t>("v_head_dim");
  c.rope_interleave = v3 ? k.get<bool>("rope_interleave", true) : true;
  c.num_experts =
      k.require<int64_t>(k.pick({"n_routed_experts", v3 ? "num_local_experts" : "num_experts"}));
  c.num_experts_per_tok = k.require<int64_t>("num_experts_per_tok");
  c.moe_intermediate_size = k.require<int64_t>("moe_intermediate_size");
  c.first_k_dense_replace = k.get<int64_t>("first_k_dense_replace", 0);
  c.shared_expert_intermediate_size =
      k.get<int64_t>("n_shared_experts", 0) * c.moe_intermediate_size;
  c.routed_scaling_factor = k.get<double>("routed_scaling_factor", v3 ? 2.5 : 1.0);
  // DeepSeek-V2 with norm_topk_prob: true follows DeepSeek's code, which transformers ignores.
  c.norm_topk_prob = k.get<bool>("norm_topk_prob", v3);
  if (v3) {
    k.expect_one_of("scoring_func", {"sigmoid"});
    k.expect_one_of("topk_method", {"noaux_tc"});
    c.router_type = "deepseek_v3";
    c.n_group = k.get<int64_t>("n_group", 8);
    c.topk_group = k.get<int64_t>("topk_group", 4);
    c.num_nextn_predict_layers =
        k.get<int64_t>(k.pick({"num_nextn_predict_layers", "num_mtp_layers"}), 0);
  } else {
    k.expect_one_of("scoring_func", {"softmax"});
    k.expect_one_of("topk_method", {"greedy", "group_limited_greedy"});
    c.router_type = "deepseek_v2";
    k.accept({"n_group", "topk_group"});  // greedy: no groups, whatever n_group says
    if (k.get<std::string>("topk_method", "greedy") == "group_limited_greedy") {
      c.n_group = k.require<int64_t>("n_group");
      c.topk_group = k.require<int64_t>("topk_group");
    }
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
  const auto entry = config.find("model_type");
  UOE_CHECK(entry == config.end() || entry->is_string(), file, ": model_type must be a string");
  const std::string model_type = entry == config.end() ? "" : entry->get<std::string>();
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
            file, ": architectures[0]='", arch,
            "' is not supported; supported: ", join(kArchitectures));
  Keys k(config, file);
  ModelConfig c;
  c.architecture = arch;
  parse_common(k, config, arch, c);
  if (arch == "MixtralForCausalLM") {
    parse_mixtral(k, c);
  } else if (arch == "Qwen2MoeForCausalLM" || arch == "Qwen3MoeForCausalLM") {
    parse_qwen_moe(k, arch, c);
  } else if (arch == "OlmoeForCausalLM") {
    parse_olmoe(k, c);
  } else {
    parse_deepseek(k, arch, c);
  }
  k.reject_unread(kInertKeys, arch);
  try {
    c.validate("config");
  } catch (const InputError& e) {
    throw InputError(c10::str(file, ": ", e.what()));
  }
  return c;
}
bool is_hf_model_dir(const std::string& dir) {
  return is_dir(dir) && is_file(fs::path(dir) / "config.json");
}

ModelConfig read_hf_config(const std::string& path) {
  const std::string file = is_dir(path) ? (fs::path(path) / "config.json").string() : path;
  UOE_CHECK(is_file(file), "cannot read the HF config '", file,
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
