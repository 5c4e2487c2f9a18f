#include "checkpoint/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "checkpoint/expert_names.h"
#include "common/check.h"
#include "common/config_node.h"
#include "common/files.h"
#include "formats/hdf5_file.h"
#include "model/model_config_yaml.h"

namespace uoe {
namespace fs = std::filesystem;
namespace {

constexpr const char* kConfigFile = "model_config.json";
constexpr const char* kDenseFile = "dense.h5";
constexpr const char* kCompleteFile = "COMPLETE";
constexpr const char* kDeltaFormat = "uoe-delta";
const char* const kDeltaKeys[] = {"method", "target", "config_hash"};

// "ckpt/" and "ckpt" name the same checkpoint; "<dir>.tmp" must be a sibling, not a child.
std::string normalize_dir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// Every parameter and buffer (e.g. the DeepSeek-V3 router bias) by name; tensors share storage
// with the model.
std::map<std::string, torch::Tensor> model_state(const CausalLM& model) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : model->named_parameters()) state.emplace(item.key(), item.value());
  for (const auto& item : model->named_buffers()) state.emplace(item.key(), item.value());
  return state;
}

}  // namespace

nlohmann::json model_config_json(const ModelConfig& c) {
  const RopeScaling& r = c.rope_scaling;
  const nlohmann::json rope_scaling = {
      {"type", r.type},
      {"factor", r.factor},
      {"original_max_position_embeddings", r.original_max_position_embeddings},
      {"beta_fast", r.beta_fast},
      {"beta_slow", r.beta_slow},
      {"mscale", r.mscale},
      {"mscale_all_dim", r.mscale_all_dim},
      {"attention_factor", r.attention_factor},
      {"truncate", r.truncate}};
  return {{"architecture", c.architecture},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden_size},
          {"num_hidden_layers", c.num_hidden_layers},
          {"num_attention_heads", c.num_attention_heads},
          {"num_key_value_heads", c.num_key_value_heads},
          {"head_dim", c.head_dim},
          {"intermediate_size", c.intermediate_size},
          {"max_position_embeddings", c.max_position_embeddings},
          {"rope_theta", c.rope_theta},
          {"rope_scaling", rope_scaling},
          {"rms_norm_eps", c.rms_norm_eps},
          {"attention_bias", c.attention_bias},
          {"attention_output_bias", c.attention_output_bias},
          {"qk_norm", c.qk_norm},
          {"tie_word_embeddings", c.tie_word_embeddings},
          {"initializer_range", c.initializer_range},
          {"kv_lora_rank", c.kv_lora_rank},
          {"q_lora_rank", c.q_lora_rank},
          {"qk_nope_head_dim", c.qk_nope_head_dim},
          {"qk_rope_head_dim", c.qk_rope_head_dim},
          {"v_head_dim", c.v_head_dim},
          {"rope_interleave", c.rope_interleave},
          {"num_experts", c.num_experts},
          {"num_experts_per_tok", c.num_experts_per_tok},
          {"moe_intermediate_size", c.moe_intermediate_size},
          {"first_k_dense_replace", c.first_k_dense_replace},
          {"decoder_sparse_step", c.decoder_sparse_step},
          {"mlp_only_layers", c.mlp_only_layers},
          {"shared_expert_intermediate_size", c.shared_expert_intermediate_size},
          {"shared_expert_gate", c.shared_expert_gate},
          {"router_type", c.router_type},
          {"norm_topk_prob", c.norm_topk_prob},
          {"routed_scaling_factor", c.routed_scaling_factor},
          {"n_group", c.n_group},
          {"topk_group", c.topk_group},
          {"num_nextn_predict_layers", c.num_nextn_predict_layers}};
}

namespace {

// JSON is YAML, so the config reader of `model:` (unknown keys rejected, "did you mean") applies.
ModelConfig read_model_config_file(const std::string& path) {
  UOE_CHECK(is_file(path), "cannot read '", path, "': no such file");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    UOE_CHECK(false, "'", path, "' is not valid JSON: ", e.what());
  }
  try {
    return parse_model_config(ConfigNode(root, YAML::Node(), "model"));
  } catch (const InputError& e) {
    throw InputError(c10::str(path, ": ", e.what()));
  }
}

void check_complete(const std::string& dir) {
  UOE_CHECK(is_dir(dir), "checkpoint directory '", dir, "' does not exist");
  UOE_CHECK(is_file(dir + "/" + kCompleteFile), "'", dir, "' is not a complete uoe checkpoint (no ",
            kCompleteFile, " file: saving was interrupted or it is not a checkpoint)");
}

// <dir>/experts-*.h5, sorted.
std::vector<std::string> expert_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("experts-", 0) == 0 && entry.path().extension() == ".h5") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

void save_checkpoint(const std::string& dir, CausalLM& model, const ProcessGroups& groups) {
  const std::string final_dir = normalize_dir(dir);
  const std::string tmp = final_dir + ".tmp";
  Communicator& world = *groups.world().control;
  const bool root = groups.rank() == 0;
  if (root) {
    remove_path(tmp);
    make_directories(tmp, "checkpoint directory");
  }
  world.barrier();

  const auto state = model_state(model);
  if (root) {
    write_json_atomic(tmp + "/" + kConfigFile, model_config_json(model->config()));
    Hdf5File dense(tmp + "/" + kDenseFile, Hdf5File::Mode::kCreate);
    for (const auto& [name, tensor] : state) {
      if (!CausalLMImpl::is_expert_parameter(name)) dense.write(name, tensor);
    }
    dense.close();
  }
  const bool has_experts = std::any_of(state.begin(), state.end(), [](const auto& item) {
    return CausalLMImpl::is_expert_parameter(item.first);
  });
  if (groups.dp_rank() == 0 && has_experts) {
    Hdf5File experts(c10::str(tmp, "/experts-", groups.ep_rank(), ".h5"), Hdf5File::Mode::kCreate);
    for (const auto& [name, tensor] : state) {
      if (CausalLMImpl::is_expert_parameter(name)) experts.write(name, tensor);
    }
    experts.close();
  }
  world.barrier();

  if (root) {
    const nlohmann::json complete = {{"ep_size", groups.ep_size()},
                                     {"world_size", groups.world_size()}};
    write_json_atomic(tmp + "/" + kCompleteFile, complete);
    remove_path(final_dir);
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);
    UOE_CHECK(!ec, "cannot rename '", tmp, "' to '", final_dir, "': ", ec.message());
  }
  world.barrier();
}

ModelConfig read_checkpoint_config(const std::string& dir) {
  const std::string d = normalize_dir(dir);
  check_complete(d);
  return read_model_config_file(d + "/" + kConfigFile);
}

void load_checkpoint(const std::string& dir, CausalLM& model) {
  const std::string d = normalize_dir(dir);
  check_complete(d);
  const auto state = model_state(model);

  Hdf5File dense(d + "/" + kDenseFile, Hdf5File::Mode::kRead);
  for (const auto& name : dense.dataset_names()) {
    UOE_CHECK(state.count(name) && !CausalLMImpl::is_expert_parameter(name), dense.path(),
              ": tensor '", name, "' does not exist in the model (does the model config match ", d,
              "/", kConfigFile, "?)");
  }
  std::vector<std::string> own_experts;
  for (const auto& [name, tensor] : state) {
    if (CausalLMImpl::is_expert_parameter(name)) {
      own_experts.push_back(name);
      continue;
    }
    UOE_CHECK(dense.has_dataset(name), dense.path(), ": missing tensor '", name, "'");
    dense.read_into(name, tensor);
  }
  if (own_experts.empty()) return;

  std::vector<Hdf5File> files;
  for (const auto& path : expert_files(d)) files.emplace_back(path, Hdf5File::Mode::kRead);
  for (const auto& name : own_experts) {
    auto holder = std::find_if(files.begin(), files.end(),
                               [&](const Hdf5File& file) { return file.has_dataset(name); });
    UOE_CHECK(holder != files.end(), d, ": missing tensor '", name, "' (in none of its ",
              files.size(), " experts-*.h5 files)");
    holder->read_into(name, state.at(name));
  }
}

void save_delta(const std::string& path, CausalLM& model, const ProcessGroups& groups,
                const std::vector<std::string>& names, const nlohmann::json& provenance) {
  // Everything below is checked identically on every rank before the first collective.
  UOE_ASSERT(provenance.is_object(), "save_delta: provenance must be a JSON object");
  const ModelConfig& config = model->config();
  const auto state = model_state(model);
  const std::string context = c10::str("delta '", path, "'");
  // The same tensor of this rank's first expert in that layer: all experts of a layer share shapes.
  const int64_t num_local_experts = std::max<int64_t>(1, config.num_experts / groups.ep_size());
  auto own_counterpart = [&](ExpertName expert) {
    expert.id = groups.ep_rank() * num_local_experts;
    return expert.str();
  };
  std::set<std::string> seen;
  for (const auto& name : names) {
    UOE_CHECK(seen.insert(name).second, context, ": tensor '", name, "' listed twice");
    if (CausalLMImpl::is_expert_parameter(name)) {
      const ExpertName expert = check_expert_name(name, config, context);
      UOE_CHECK(state.count(own_counterpart(expert)), context, ": tensor '", name,
                "' is not a routed expert tensor of this model");
    } else {
      UOE_CHECK(state.count(name), context, ": the model has no tensor '", name, "'");
    }
  }

  // Experts are fetched from their owner in EP group 0, world rank = id / num_local_experts.
  const bool root = groups.rank() == 0;
  std::vector<torch::Tensor> tensors;
  for (const auto& name : names) {
    if (!CausalLMImpl::is_expert_parameter(name)) {
      tensors.push_back(state.at(name));
      continue;
    }
    const ExpertName expert = *parse_expert_name(name);
    const int owner = static_cast<int>(expert.id / num_local_experts);
    if (owner == 0) {  // rank 0 holds it already
      tensors.push_back(root ? state.at(name) : torch::Tensor());
      continue;
    }
    torch::Tensor buffer;
    if (groups.rank() == owner) {
      buffer = state.at(name).detach().clone();
    } else {
      buffer = torch::empty_like(state.at(own_counterpart(expert)));
    }
    groups.world().data->broadcast(buffer, owner);
    tensors.push_back(root ? buffer : torch::Tensor());
  }

  if (root) {
    Hdf5Writer file(path);
    for (size_t i = 0; i < names.size(); ++i) file.write(names[i], tensors[i]);
    file.set_attribute("format", std::string(kDeltaFormat));
    for (const char* key : kDeltaKeys) {  // those present; all of it is in "provenance"
      if (!provenance.contains(key)) continue;
      const auto& value = provenance.at(key);
      file.set_attribute(key, value.is_string() ? value.get<std::string>() : value.dump());
    }
    file.set_attribute("provenance", provenance.dump());
    file.commit();
  }
  groups.world().control->barrier();
}

namespace {

// Opens a delta file; InputError when it is not one.
Hdf5File open_delta(const std::string& path) {
  Hdf5File file(path, Hdf5File::Mode::kRead);
  UOE_CHECK(file.has_attribute("format") && file.string_attribute("format") == kDeltaFormat, "'",
            path, "' is not a uoe delta (expected attribute format = \"", kDeltaFormat, "\")");
  return file;
}

nlohmann::json delta_provenance(const Hdf5File& file) {
  try {
    return nlohmann::json::parse(file.string_attribute("provenance"));
  } catch (const nlohmann::json::exception& e) {
    UOE_CHECK(false, "delta '", file.path(),
              "': attribute 'provenance' is not valid JSON: ", e.what());
  }
  return {};
}

}  // namespace

nlohmann::json apply_delta(const std::string& path, CausalLM& model) {
  const Hdf5File file = open_delta(path);
  const std::string context = c10::str("delta '", path, "'");
  const auto state = model_state(model);
  for (const auto& name : file.dataset_names()) {
    const auto it = state.find(name);
    if (it != state.end()) {
      file.read_into(name, it->second);
    } else {
      // Another rank owns this expert; anything else means the delta is for another model.
      UOE_CHECK(CausalLMImpl::is_expert_parameter(name), context, ": tensor '", name,
                "' does not exist in the model");
      check_expert_name(name, model->config(), context);
    }
  }
  return delta_provenance(file);
}

Delta read_delta(const std::string& path) {
  const Hdf5File file = open_delta(path);
  Delta delta;
  for (const auto& name : file.dataset_names()) delta.tensors.emplace(name, file.read(name));
  delta.provenance = delta_provenance(file);
  return delta;
}

}  // namespace uoe
