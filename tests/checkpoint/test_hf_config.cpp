// HF config.json -> ModelConfig: the real files in ../shared/data/hf and hand-written configs of
// the other paper models (tests/fixtures/hf_configs), parameter counts against the published totals
// computed without allocating, and the HF tensor names of the model uoe builds.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/hf_config.h"
#include "checkpoint/hf_names.h"
#include "model/causal_lm.h"
#include "model/parameter_count.h"
#include "parallel/process_groups.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

const std::string kSource = UOE_SOURCE_DIR;

std::string shared_hf(const std::string& model) { return kSource + "/../shared/data/hf/" + model; }
std::string written_config(const std::string& model) {
  return kSource + "/tests/fixtures/hf_configs/" + model;
}

#define SKIP_WITHOUT_SHARED(model)                                             \
  if (!fs::exists(shared_hf(model) + "/config.json")) {                        \
    GTEST_SKIP() << shared_hf(model) << " is not present (../shared/data/hf)"; \
  }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The same architecture with tiny widths: layer and expert counts, and so every tensor name, stay.
ModelConfig shrink(ModelConfig c, int64_t max_layers = 0) {
  c.vocab_size = 32;
  c.hidden_size = 16;
  c.num_key_value_heads = c.num_key_value_heads == c.num_attention_heads ? 2 : 1;
  c.num_attention_heads = 2;
  if (c.head_dim > 0) c.head_dim = 12;
  c.intermediate_size = 8;
  c.moe_intermediate_size = 4;
  if (c.shared_expert_intermediate_size > 0) c.shared_expert_intermediate_size = 8;
  if (c.is_mla()) {
    c.kv_lora_rank = 8;
    if (c.q_lora_rank > 0) c.q_lora_rank = 6;
    c.qk_nope_head_dim = 4;
    c.qk_rope_head_dim = 4;
    c.v_head_dim = 6;
  }
  if (max_layers > 0) c.num_hidden_layers = std::min(c.num_hidden_layers, max_layers);
  return c;
}

TEST(HfConfig, MixtralParses) {
  SKIP_WITHOUT_SHARED("Mixtral-8x7B-v0.1");
  const ModelConfig c = read_hf_config(shared_hf("Mixtral-8x7B-v0.1"));
  EXPECT_EQ(c.architecture, "MixtralForCausalLM");
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_EQ(c.moe_intermediate_size, 14336);
  EXPECT_EQ(c.num_moe_layers(), 32);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_EQ(c.router_type, "softmax");
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.is_mla());
}

TEST(HfConfig, DeepSeekV3Parses) {
  SKIP_WITHOUT_SHARED("DeepSeek-V3");
  const ModelConfig c = read_hf_config(shared_hf("DeepSeek-V3") + "/config.json");
  EXPECT_EQ(c.architecture, "DeepseekV3ForCausalLM");
  EXPECT_TRUE(c.is_mla());
  EXPECT_EQ(c.q_lora_rank, 1536);
  EXPECT_EQ(c.kv_lora_rank, 512);
  EXPECT_EQ(c.qk_head_dim(), 192);
  EXPECT_EQ(c.rotary_dim(), 64);
  EXPECT_EQ(c.router_type, "deepseek_v3");
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 4);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_EQ(c.shared_expert_intermediate_size, 2048);
  EXPECT_EQ(c.moe_layer_indices().front(), 3);
  EXPECT_EQ(c.num_moe_layers(), 58);
  EXPECT_EQ(c.num_nextn_predict_layers, 1);
  EXPECT_TRUE(c.rope_scaling.is_yarn());
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 40);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
  // softmax scale = 192^-0.5 * (0.1 * 1.0 * ln 40 + 1)^2
  const double mscale = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(1.0 / c.softmax_divisor(), mscale * mscale / std::sqrt(192.0), 1e-12);
}

TEST(HfConfig, WrittenConfigsParse) {
  const ModelConfig lite = read_hf_config(written_config("DeepSeek-V2-Lite"));
  EXPECT_EQ(lite.q_lora_rank, 0);  // null: plain q_proj
  EXPECT_EQ(lite.router_type, "deepseek_v2");
  EXPECT_EQ(lite.n_group, 1);
  EXPECT_EQ(lite.shared_expert_intermediate_size, 2 * 1408);
  EXPECT_EQ(lite.moe_layer_indices().front(), 1);
  EXPECT_DOUBLE_EQ(lite.rope_scaling.mscale_all_dim, 0.707);

  const ModelConfig qwen2 = read_hf_config(written_config("Qwen1.5-MoE-A2.7B"));
  EXPECT_TRUE(qwen2.shared_expert_gate);
  EXPECT_TRUE(qwen2.attention_bias);
  EXPECT_FALSE(qwen2.attention_output_bias);
  EXPECT_EQ(qwen2.shared_expert_intermediate_size, 5632);

  const ModelConfig qwen3 = read_hf_config(written_config("Qwen3-30B-A3B"));
  EXPECT_EQ(qwen3.qk_norm, "head");
  EXPECT_EQ(qwen3.resolved_head_dim(), 128);

  const ModelConfig olmoe = read_hf_config(written_config("OLMoE-1B-7B-0924"));
  EXPECT_EQ(olmoe.qk_norm, "full");
  EXPECT_EQ(olmoe.moe_intermediate_size, 1024);
  EXPECT_EQ(olmoe.shared_expert_intermediate_size, 0);
}

// The index's total_size is the bf16 byte count of every tensor: exactly 2 bytes per parameter.
TEST(HfConfig, MixtralCountEqualsCheckpointSize) {
  SKIP_WITHOUT_SHARED("Mixtral-8x7B-v0.1");
  const auto counts = count_parameters(read_hf_config(shared_hf("Mixtral-8x7B-v0.1")));
  const auto index = read_json(shared_hf("Mixtral-8x7B-v0.1") + "/model.safetensors.index.json");
  EXPECT_EQ(2 * counts.total(), index["metadata"]["total_size"].get<int64_t>());
  EXPECT_NEAR(counts.total() / 1e9, 46.7, 0.05);
  EXPECT_NEAR(counts.active / 1e9, 12.9, 0.05);  // published: 12.9B active
}

// Published totals (model cards), in billions, to the precision they are published with. Active
// counts: Mixtral, Qwen and OLMoE count every tensor a token uses; DeepSeek leaves out the input
// embedding (a lookup), so it is subtracted for them. Active counts are published rounded or
// truncated to 0.1B, hence the 0.06 tolerance.
TEST(HfConfig, CountsMatchPublishedTotals) {
  struct Case {
    std::string dir;
    double total, active;
    bool active_without_embedding;
  };
  const std::vector<Case> cases = {{"DeepSeek-V2-Lite", 15.7, 2.4, true},
                                   {"Qwen1.5-MoE-A2.7B", 14.3, 2.7, false},
                                   {"Qwen3-30B-A3B", 30.5, 3.3, false},
                                   {"OLMoE-1B-7B-0924", 6.9, 1.3, false}};
  for (const auto& c : cases) {
    const ModelConfig config = read_hf_config(written_config(c.dir));
    const auto counts = count_parameters(config);
    std::cout << c.dir << ": " << counts.to_json().dump() << "\n";
    const int64_t embedding =
        c.active_without_embedding ? config.vocab_size * config.hidden_size : 0;
    EXPECT_NEAR(counts.total() / 1e9, c.total, 0.05) << c.dir;
    EXPECT_NEAR((counts.active - embedding) / 1e9, c.active, 0.06) << c.dir;
  }
}

// DeepSeek-V3: "671B main model weights and 14B MTP module weights" (685B in the checkpoint), 37B
// activated. The MTP layer, as stored (decoder layer, norms, eh_proj, embedding copy and head), is
// 13.46B: DeepSeek rounds it up to 14B, so it is only checked to lie in [13, 14].
TEST(HfConfig, DeepSeekV3CountMatchesPublishedTotal) {
  SKIP_WITHOUT_SHARED("DeepSeek-V3");
  const ModelConfig config = read_hf_config(shared_hf("DeepSeek-V3"));
  const auto counts = count_parameters(config);
  std::cout << "DeepSeek-V3: " << counts.to_json().dump() << "\n";
  EXPECT_NEAR(counts.total() / 1e9, 671, 0.5);
  EXPECT_GE(counts.mtp / 1e9, 13.0);
  EXPECT_LE(counts.mtp / 1e9, 14.0);
  EXPECT_NEAR((counts.active - config.vocab_size * config.hidden_size) / 1e9, 37, 0.5);
}

int64_t allocated_size(const CausalLM& model) {
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  for (const auto& b : model->buffers()) n += b.numel();
  return n;
}

// The count from the config equals the tensors of the model that is built, for every architecture.
TEST(HfConfig, CountEqualsBuiltModel) {
  std::vector<ModelConfig> configs = {read_hf_config(written_config("DeepSeek-V2-Lite")),
                                      read_hf_config(written_config("Qwen1.5-MoE-A2.7B")),
                                      read_hf_config(written_config("Qwen3-30B-A3B")),
                                      read_hf_config(written_config("OLMoE-1B-7B-0924"))};
  if (fs::exists(shared_hf("DeepSeek-V3") + "/config.json")) {
    configs.push_back(read_hf_config(shared_hf("DeepSeek-V3")));
  }
  for (const auto& full : configs) {
    ModelConfig c = shrink(full, 4);
    c.first_k_dense_replace = std::min<int64_t>(c.first_k_dense_replace, 2);
    c.num_experts = std::min<int64_t>(c.num_experts, 16);
    c.num_experts_per_tok = std::min<int64_t>(c.num_experts_per_tok, 4);
    c.n_group = std::min<int64_t>(c.n_group, 4);
    c.topk_group = std::min<int64_t>(c.topk_group, c.n_group);
    CausalLM model(c, nullptr);
    EXPECT_EQ(count_parameters(c).total(), allocated_size(model)) << c.architecture;
  }
}

// Every tensor of Mixtral's weight map is a parameter of the model uoe builds, and vice versa.
TEST(HfConfig, MixtralWeightMapNamesAreTheModelParameters) {
  SKIP_WITHOUT_SHARED("Mixtral-8x7B-v0.1");
  const ModelConfig config = shrink(read_hf_config(shared_hf("Mixtral-8x7B-v0.1")));
  CausalLM model(config, nullptr);
  std::set<std::string> ours;
  for (const auto& item : model->named_parameters()) {
    ours.insert(hf_parameter_name(config.architecture, item.key()));
  }
  std::set<std::string> theirs;
  const auto index = read_json(shared_hf("Mixtral-8x7B-v0.1") + "/model.safetensors.index.json");
  for (const auto& item : index["weight_map"].items()) theirs.insert(item.key());
  EXPECT_EQ(theirs.size(), 995u);
  for (const auto& name : theirs) EXPECT_TRUE(ours.count(name)) << "not in the model: " << name;
  for (const auto& name : ours)
    EXPECT_TRUE(theirs.count(name)) << "not in the weight map: " << name;
}

// An HF model saved as a uoe checkpoint reloads with the same architecture (model_config.json
// keeps MLA, YaRN, q/k norm, sparse steps) and computes the same logits.
TEST(HfConfig, UoeCheckpointKeepsTheArchitecture) {
  auto groups = ProcessGroups::create(test::world(), 1);
  const auto ids = torch::arange(10, torch::kInt64).view({1, 10});
  for (const std::string name : {"deepseek_v2", "deepseek_v3", "qwen2_moe", "qwen3_moe", "olmoe"}) {
    const std::string source = kSource + "/tests/fixtures/hf/" + name;
    CausalLM model(read_hf_config(source), nullptr);
    load_hf_checkpoint(SafetensorsCheckpoint(source), model, model->config().architecture);
    const std::string dir = (fs::temp_directory_path() /
                             ("uoe_hf_roundtrip_" + std::to_string(::getpid()) + "_" + name))
                                .string();
    fs::remove_all(dir);
    save_checkpoint(dir, model, groups);
    const ModelConfig reread = read_checkpoint_config(dir);
    EXPECT_EQ(count_parameters(reread).to_json(), count_parameters(model->config()).to_json())
        << name;
    CausalLM copy(reread, nullptr);
    load_checkpoint(dir, copy);
    torch::NoGradGuard no_grad;
    test::expect_close(copy->forward(ids).logits, model->forward(ids).logits, 0.0, name);
    fs::remove_all(dir);
  }
}

nlohmann::json mixtral_json() {
  return {{"architectures", {"MixtralForCausalLM"}},
          {"vocab_size", 32},
          {"hidden_size", 16},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"intermediate_size", 8},
          {"max_position_embeddings", 64},
          {"hidden_act", "silu"}};
}

TEST(HfConfig, RejectsWhatItDoesNotImplement) {
  auto parse = [](nlohmann::json j) { return parse_hf_config(j, "dir/config.json"); };
  EXPECT_EQ(parse(mixtral_json()).num_experts, 8);  // the class default

  auto arch = mixtral_json();
  arch["architectures"] = {"LlamaForCausalLM"};
  test::expect_input_error([&] { parse(arch); },
                           {"dir/config.json", "LlamaForCausalLM", "MixtralForCausalLM",
                            "DeepseekV3ForCausalLM", "OlmoeForCausalLM"});
  auto act = mixtral_json();
  act["hidden_act"] = "gelu";
  test::expect_input_error([&] { parse(act); }, {"dir/config.json", "hidden_act", "gelu", "silu"});
  auto rope = mixtral_json();
  rope["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  test::expect_input_error([&] { parse(rope); },
                           {"dir/config.json", "rope_scaling.type", "linear", "default, yarn"});
  auto window = mixtral_json();
  window["sliding_window"] = 16;
  test::expect_input_error([&] { parse(window); }, {"sliding_window=16", "null"});
  auto missing = mixtral_json();
  missing.erase("hidden_size");
  test::expect_input_error([&] { parse(missing); }, {"dir/config.json", "hidden_size"});
  auto type = mixtral_json();
  type["num_hidden_layers"] = "two";
  test::expect_input_error([&] { parse(type); }, {"num_hidden_layers", "wrong type"});
  auto heads = mixtral_json();
  heads["num_key_value_heads"] = 3;
  test::expect_input_error([&] { parse(heads); }, {"dir/config.json", "num_key_value_heads"});
  auto model_type = mixtral_json();  // without architectures, model_type names the class
  model_type.erase("architectures");
  model_type["model_type"] = nullptr;
  test::expect_input_error([&] { parse(model_type); }, {"dir/config.json", "model_type"});
  model_type["model_type"] = "mixtral";
  EXPECT_EQ(parse(model_type).num_experts, 8);
  test::expect_input_error([&] { read_hf_config("/nonexistent/model"); },
                           {"/nonexistent/model", "no such file", "config.json"});
}

// The same models' config.json as transformers 5.23 writes it (AutoConfig.from_pretrained of the
// 4.x file, then save_pretrained; tests/fixtures/hf_configs/transformers5): rope_parameters instead
// of rope_theta / rope_scaling, num_local_experts for Qwen3-MoE, head_dim / qk_head_dim for
// DeepSeek, layer_types for Qwen2-MoE. Each must give the same ModelConfig as the 4.x file.
TEST(HfConfig, Transformers5ConfigEqualsTransformers4Config) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string name :
       {"DeepSeek-V2-Lite", "OLMoE-1B-7B-0924", "Qwen1.5-MoE-A2.7B", "Qwen3-30B-A3B"}) {
    pairs.emplace_back(written_config(name), written_config("transformers5/" + name));
  }
  for (const std::string name : {"Mixtral-8x7B-v0.1", "DeepSeek-V3"}) {
    if (fs::exists(shared_hf(name) + "/config.json")) {
      pairs.emplace_back(shared_hf(name), written_config("transformers5/" + name));
    }
  }
  for (const auto& [v4, v5] : pairs) {
    const auto v5_json = read_json(v5 + "/config.json");
    ASSERT_TRUE(v5_json.contains("rope_parameters")) << v5;
    ASSERT_FALSE(v5_json.contains("rope_theta")) << v5;
    EXPECT_EQ(model_config_json(read_hf_config(v5)), model_config_json(read_hf_config(v4))) << v5;
  }
  EXPECT_EQ(read_hf_config(written_config("transformers5/Qwen3-30B-A3B")).num_experts, 128);
  EXPECT_DOUBLE_EQ(read_hf_config(written_config("transformers5/Qwen3-30B-A3B")).rope_theta, 1e6);
}

// Keys that change the computation and that uoe does not implement are refused, named; keys that
// cannot change it are accepted; RoPE given twice must agree.
TEST(HfConfig, RefusesUnknownAndConflictingNumericsKeys) {
  auto parse = [](nlohmann::json j) { return parse_hf_config(j, "dir/config.json"); };
  auto with = [](const char* key, nlohmann::json value) {
    auto j = mixtral_json();
    j[key] = std::move(value);
    return j;
  };
  auto linear = with("rope_parameters", {{"rope_type", "linear"}, {"factor", 2.0}});
  test::expect_input_error([&] { parse(linear); }, {"dir/config.json", "rope_parameters.rope_type",
                                                    "linear", "default, yarn"});
  auto llama3_field =
      with("rope_parameters", {{"rope_type", "yarn"}, {"factor", 2.0}, {"low_freq_factor", 1.0}});
  test::expect_input_error([&] { parse(llama3_field); },
                           {"dir/config.json", "rope_parameters.low_freq_factor", "yarn"});
  auto default_factor = with("rope_parameters", {{"rope_type", "default"}, {"factor", 2.0}});
  test::expect_input_error([&] { parse(default_factor); }, {"rope_parameters.factor", "default"});
  auto partial =
      with("rope_parameters", {{"rope_type", "default"}, {"partial_rotary_factor", 0.5}});
  test::expect_input_error([&] { parse(partial); },
                           {"rope_parameters.partial_rotary_factor", "0.5", "supported: 1"});
  auto conflict = with("rope_parameters", {{"rope_type", "default"}, {"rope_theta", 1e4}});
  conflict["rope_theta"] = 5e5;
  test::expect_input_error(
      [&] { parse(conflict); },
      {"dir/config.json", "rope_parameters.rope_theta", "rope_theta", "conflicts"});
  auto yarn_conflict = with("rope_scaling", {{"type", "yarn"}, {"factor", 4.0}});
  yarn_conflict["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 8.0}};
  test::expect_input_error([&] { parse(yarn_conflict); },
                           {"rope_parameters.factor", "rope_scaling.factor", "conflicts"});
  auto same = with("rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000}});
  same["rope_theta"] = 10000.0;  // given twice with the same value: accepted
  EXPECT_DOUBLE_EQ(parse(same).rope_theta, 1e4);
  auto experts = with("num_local_experts", 4);
  experts["num_experts"] = 6;
  test::expect_input_error([&] { parse(experts); },
                           {"num_experts", "num_local_experts", "conflicts"});
  auto unknown = with("logit_softcapping", 30.0);
  test::expect_input_error([&] { parse(unknown); }, {"dir/config.json", "'logit_softcapping'",
                                                     "MixtralForCausalLM", "refused"});
  auto typo = with("num_local_expert", 4);
  test::expect_input_error([&] { parse(typo); },
                           {"'num_local_expert'", "did you mean 'num_local_experts'"});
  test::expect_input_error([&] { parse(with("router_jitter_noise", 0.1)); },
                           {"router_jitter_noise=0.1", "supported: 0"});
  test::expect_input_error([&] { parse(with("attention_dropout", 0.1)); },
                           {"attention_dropout=0.1", "supported: 0"});
  auto zero_factor =
      with("rope_parameters", {{"rope_type", "yarn"}, {"factor", 2.0}, {"attention_factor", 0.0}});
  test::expect_input_error([&] { parse(zero_factor); },
                           {"rope_parameters.attention_factor", "> 0"});

  // What does not change the computation is accepted (as transformers 5 writes it).
  auto inert = mixtral_json();
  inert.update({{"dtype", "bfloat16"},
                {"transformers_version", "5.23.0"},
                {"use_cache", true},
                {"bos_token_id", 1},
                {"eos_token_id", 2},
                {"pad_token_id", nullptr},
                {"output_router_logits", false},
                {"router_aux_loss_coef", 0.02},
                {"router_jitter_noise", 0.0},
                {"head_dim", nullptr},
                {"attention_dropout", 0.0}});
  inert["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5e5}};
  EXPECT_DOUBLE_EQ(parse(inert).rope_theta, 5e5);

  auto qwen2 = read_json(written_config("transformers5/Qwen1.5-MoE-A2.7B") + "/config.json");
  qwen2["layer_types"][3] = "sliding_attention";
  test::expect_input_error([&] { parse(qwen2); },
                           {"layer_types", "sliding_attention", "full_attention"});
}

TEST(HfConfig, DeepSeekRouterVariants) {
  auto v2 = read_json(written_config("DeepSeek-V2-Lite") + "/config.json");
  v2["n_group"] = 8;  // greedy ignores the groups
  EXPECT_EQ(parse_hf_config(v2, "v2").n_group, 1);
  v2["topk_method"] = "group_limited_greedy";
  v2["topk_group"] = 3;
  const ModelConfig grouped = parse_hf_config(v2, "v2");
  EXPECT_EQ(grouped.n_group, 8);
  EXPECT_EQ(grouped.topk_group, 3);
  v2["topk_method"] = "noaux_tc";
  test::expect_input_error([&] { parse_hf_config(v2, "v2"); },
                           {"topk_method", "noaux_tc", "greedy, group_limited_greedy"});
  v2["topk_method"] = "group_limited_greedy";
  v2["n_group"] = 8;
  v2["topk_group"] = 1;  // one kept group of 8 experts: 6 chosen fit, 9 do not
  EXPECT_EQ(parse_hf_config(v2, "v2").topk_group, 1);
  v2["num_experts_per_tok"] = 9;
  test::expect_input_error([&] { parse_hf_config(v2, "v2"); },
                           {"num_experts_per_tok=9", "topk_group"});
  v2["num_experts_per_tok"] = 6;
  v2["topk_method"] = "greedy";
  v2["moe_layer_freq"] = 2;
  test::expect_input_error([&] { parse_hf_config(v2, "v2"); }, {"moe_layer_freq=2"});
}

}  // namespace
}  // namespace uoe
