// Loading HF safetensors weights into an expert-parallel model (checkpoint/hf_checkpoint.h,
// checkpoint/hf_names.h): weights stored in mixed dtypes (BF16 / F16 / F32) and several shards load
// at every ep_size that divides the world into exactly the values of an in-memory model (rounded to
// the stored dtypes), the forward logits match that model's, each rank holds only its experts, and
// missing, misshapen or unknown tensors give InputErrors naming the file and tensor on every rank
// alike. The names of the published Mixtral-8x7B weight map are exactly those of a uoe model of its
// shape. Export writes the original directory with only a delta's tensors changed, in their
// original dtypes.
//
// Every rank makes the same collective calls; checks use EXPECT_*.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/hf_export.h"
#include "checkpoint/hf_names.h"
#include "formats/safetensors_writer.h"
#include "parallel/process_groups.h"
#include "test_models.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

ModelConfig shared_expert_config(int64_t num_experts) {
  ModelConfig c = test::tiny_moe_config(num_experts);
  c.shared_expert_intermediate_size = 24;
  c.shared_expert_gate = true;
  c.router_type = "deepseek_v3";  // has a buffer (e_score_correction_bias)
  c.attention_bias = true;
  return c;
}

ModelConfig mixtral_like_config(int64_t num_experts) {
  ModelConfig c = test::tiny_moe_config(num_experts);
  c.first_k_dense_replace = 0;
  return c;
}

std::map<std::string, torch::Tensor> state_of(const CausalLM& model) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : model->named_parameters()) state.emplace(item.key(), item.value());
  for (const auto& item : model->named_buffers()) state.emplace(item.key(), item.value());
  return state;
}

// Experts in F16, vectors in F32, other matrices in BF16, as a checkpoint might mix them.
torch::ScalarType stored_dtype(const std::string& name, const torch::Tensor& t) {
  if (CausalLMImpl::is_expert_parameter(name)) return torch::kFloat16;
  return t.dim() == 1 ? torch::kFloat32 : torch::kBFloat16;
}

// The whole model (no expert parallelism), seeded; values rounded to their stored dtypes so that
// the checkpoint holds them exactly.
CausalLM reference_model(const ModelConfig& config, uint64_t seed) {
  CausalLM model(config, nullptr);
  model->initialize(seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : state_of(model)) {
    if (name.find("e_score_correction_bias") != std::string::npos) {
      t.copy_(test::seeded_randn(t.sizes(), seed + 7));
    }
    t.copy_(t.to(stored_dtype(name, t)));
  }
  return model;
}

// The tensors of `model` under their HF names, in their stored dtypes.
std::vector<NamedTensor> hf_tensors(const CausalLM& model, const std::string& architecture) {
  std::vector<NamedTensor> tensors;
  for (const auto& [name, t] : state_of(model)) {
    tensors.push_back({hf_parameter_name(architecture, name), t.to(stored_dtype(name, t))});
  }
  return tensors;
}

class HfCheckpointTest : public test::SharedDirTest {
 protected:
  HfCheckpointTest() : SharedDirTest("uoe_test_hf_") {}
  // Rank 0 writes `tensors` as HF weights in shards of at most 16 KiB (several shards).
  void write_weights(const std::vector<NamedTensor>& tensors) {
    world_->barrier();  // no rank still reads the previous weights
    if (world_->rank() == 0) {
      for (const auto& entry : fs::directory_iterator(dir_)) fs::remove(entry.path());
      write_safetensors_checkpoint(dir_, tensors, 16 * 1024);
    }
    world_->barrier();
  }
};

void expect_loads_like_reference(const std::string& dir, const ModelConfig& config,
                                 const std::string& architecture, CausalLM& reference,
                                 const std::shared_ptr<MpiCommunicator>& world) {
  auto same_input = torch::randint(config.vocab_size, {2, 7}, torch::kLong);
  world->broadcast(same_input, 0);
  const auto expected_logits = reference->forward(same_input).logits;
  const auto want = state_of(reference);
  const int n = world->size();
  for (int ep = 1; ep <= n; ++ep) {
    if (n % ep != 0) continue;
    const std::string tag = c10::str(architecture, " ep=", ep);
    auto groups = ProcessGroups::create(world, ep);
    CausalLM model(config, groups.ep());
    model->initialize(12345);
    const SafetensorsCheckpoint checkpoint(dir);
    EXPECT_TRUE(checkpoint.is_sharded()) << tag;
    const HfLoadReport report = load_hf_checkpoint(checkpoint, model, architecture);
    const auto got = state_of(model);
    EXPECT_EQ(report.num_tensors, static_cast<int64_t>(got.size())) << tag;
    int64_t expert_bytes = 0;
    for (const auto& [name, t] : got) {
      EXPECT_EQ(t.scalar_type(), torch::kFloat32) << tag << " " << name;
      EXPECT_TRUE(torch::equal(t, want.at(name))) << tag << ": " << name << " differs";
      if (CausalLMImpl::is_expert_parameter(name)) expert_bytes += t.numel() * 4;
    }
    EXPECT_EQ(report.expert_bytes, expert_bytes) << tag;
    // Three projections of 16 x 24 per expert, E/ep experts in each MoE layer.
    EXPECT_EQ(expert_bytes, config.num_moe_layers() * (config.num_experts / ep) * 3 * 16 * 24 * 4)
        << tag;
    test::expect_close(model->forward(same_input).logits, expected_logits, 1e-5, tag + " logits");
  }
}

TEST_F(HfCheckpointTest, MixedDtypeShardsLoadAtEveryLayout) {
  const int n = world_->size();
  for (const std::string architecture : {"", "Qwen2MoeForCausalLM", "DeepseekV3ForCausalLM"}) {
    const auto config = shared_expert_config(2 * n);
    CausalLM reference = reference_model(config, 3);
    auto tensors = hf_tensors(reference, architecture);
    tensors.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", torch::ones({4})});
    if (architecture == "DeepseekV3ForCausalLM") {  // a multi-token-prediction layer is ignored
      tensors.push_back({c10::str("model.layers.", config.num_hidden_layers, ".eh_proj.weight"),
                         torch::ones({2, 2})});
    }
    write_weights(tensors);
    expect_loads_like_reference(dir_, config, architecture, reference, world_);
  }
}

TEST_F(HfCheckpointTest, MixtralNames) {
  const int n = world_->size();
  const auto config = mixtral_like_config(2 * n);
  CausalLM reference = reference_model(config, 4);
  const auto tensors = hf_tensors(reference, "MixtralForCausalLM");
  bool has_w3 = false;
  for (const auto& t : tensors)
    has_w3 |= t.name == "model.layers.1.block_sparse_moe.experts.1.w3.weight";
  EXPECT_TRUE(has_w3);
  write_weights(tensors);
  expect_loads_like_reference(dir_, config, "MixtralForCausalLM", reference, world_);
}

TEST_F(HfCheckpointTest, BadCheckpointsAreRejectedOnEveryRank) {
  const int n = world_->size();
  const auto config = shared_expert_config(2 * n);
  CausalLM reference = reference_model(config, 5);
  const auto good = hf_tensors(reference, "");
  auto groups = ProcessGroups::create(world_, n);
  CausalLM model(config, groups.ep());
  auto load = [&] { load_hf_checkpoint(SafetensorsCheckpoint(dir_), model, ""); };

  // The last rank's expert is missing: every rank reports it (all experts are checked).
  const std::string last_expert =
      c10::str("model.layers.2.mlp.experts.", 2 * n - 1, ".down_proj.weight");
  auto without = good;
  without.erase(std::remove_if(without.begin(), without.end(),
                               [&](const NamedTensor& t) { return t.name == last_expert; }),
                without.end());
  write_weights(without);
  test::expect_input_error(load, {dir_, "missing tensor '" + last_expert + "'", "[24, 16]"});

  auto misshapen = good;
  for (auto& t : misshapen) {
    if (t.name == "model.layers.1.self_attn.k_proj.weight")
      t.tensor = torch::zeros({3, 24}, torch::kBFloat16);
  }
  write_weights(misshapen);
  test::expect_input_error(load, {dir_ + "/model-0", "'model.layers.1.self_attn.k_proj.weight'",
                                  "[3, 24]", "expects [12, 24]"});

  auto integer = good;
  for (auto& t : integer) {
    if (t.name == "model.norm.weight") t.tensor = t.tensor.to(torch::kInt64);
  }
  write_weights(integer);
  test::expect_input_error(load,
                           {dir_ + "/model-0", "'model.norm.weight'", "Long", "F32, BF16 or F16"});

  for (const std::string& extra :
       {c10::str("model.layers.1.mlp.experts.", 2 * n, ".up_proj.weight"),
        std::string("model.extra.weight")}) {
    auto with_extra = good;
    with_extra.push_back({extra, torch::zeros({2})});
    write_weights(with_extra);
    test::expect_input_error(load, {dir_ + "/model-0", "'" + extra + "'", "does not have"});
  }
}

std::set<std::string> files_under(const std::string& dir) {
  std::set<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.insert(fs::relative(entry.path(), dir).string());
  }
  return files;
}

// Unlearning changes one expert and its router (in fp32); the export holds exactly those changes,
// rounded to the stored dtypes, and every other byte of the original directory.
TEST_F(HfCheckpointTest, ExportChangesOnlyTheDeltaTensors) {
  const int n = world_->size();
  const auto config = shared_expert_config(2 * n);
  const std::string source = dir_ + "/source", out = dir_ + "/exported", delta = dir_ + "/delta.h5";
  if (world_->rank() == 0) {
    fs::create_directories(source + "/original");
    write_safetensors_checkpoint(source, hf_tensors(reference_model(config, 8), ""), 16 * 1024);
    std::ofstream(source + "/config.json") << "{\"architectures\": [\"uoe\"]}\n";
    std::ofstream(source + "/tokenizer.json") << "{}\n";
    std::ofstream(source + "/original/params.json") << "{}\n";
    std::ofstream(source + "/original/consolidated.00.pth") << "old weights";
    fs::create_directories(source + "/.cache");
    std::ofstream(source + "/.cache/download.lock") << "";
  }
  world_->barrier();
  auto groups = ProcessGroups::create(world_, n);
  CausalLM model(config, groups.ep());
  load_hf_checkpoint(SafetensorsCheckpoint(source), model, "");
  const std::vector<std::string> trained = {"layers.2.mlp.experts.1.up_proj.weight",
                                            "layers.2.mlp.gate.weight",
                                            "layers.2.post_attention_layernorm.weight"};
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (std::find(trained.begin(), trained.end(), item.key()) != trained.end()) {
        item.value().add_(0.001 * test::seeded_randn(item.value().sizes(), 77));
      }
    }
  }
  save_delta(delta, model, groups, trained, {{"method", "ga"}});
  if (world_->rank() == 0) {
    const HfExportReport report = export_hf_checkpoint({source, delta, out, false, ""});
    // Experts are stored as F16, other matrices as BF16, vectors as F32 (tensor_dtype above).
    const std::vector<std::pair<std::string, std::string>> expected_changed = {
        {"model.layers.2.mlp.experts.1.up_proj.weight", "F16"},
        {"model.layers.2.mlp.gate.weight", "BF16"},
        {"model.layers.2.post_attention_layernorm.weight", "F32"}};
    ASSERT_EQ(report.changed.size(), expected_changed.size());
    for (size_t i = 0; i < expected_changed.size(); ++i) {
      const ExportedTensor& t = report.changed[i];
      EXPECT_EQ(t.name, expected_changed[i].first);
      EXPECT_EQ(t.dtype, expected_changed[i].second);
      EXPECT_EQ(t.updated_elements, model->named_parameters()[trained[i]].numel()) << t.name;
      if (t.dtype == "F32") {
        EXPECT_EQ(t.max_abs_error, 0.0);
        EXPECT_EQ(t.update_rel_l2_error, 0.0);
      } else {  // round to nearest: at most half a unit in the last place (8 or 11 bits)
        EXPECT_GT(t.rel_max_error, 0.0) << t.name;
        EXPECT_LE(t.rel_max_error, t.dtype == "BF16" ? 1.0 / 256 : 1.0 / 2048) << t.name;
      }
    }
    EXPECT_EQ(worst_rounding(report, &ExportedTensor::rel_max_error)->name,
              expected_changed[1].first);
    EXPECT_EQ(report.skipped.size(), 2u);  // .cache, original/consolidated.00.pth
    auto expected_files = files_under(source);
    expected_files.erase(".cache/download.lock");
    expected_files.erase("original/consolidated.00.pth");
    expected_files.insert(kExportReportFile);
    EXPECT_EQ(files_under(out), expected_files);
    EXPECT_FALSE(fs::exists(out + ".tmp"));

    const SafetensorsCheckpoint before(source), after(out);
    EXPECT_EQ(after.shard_names(), before.shard_names());
    EXPECT_EQ(after.index_metadata(), before.index_metadata());
    const Delta d = read_delta(delta);
    for (const auto& name : before.tensor_names()) {
      const auto& info = before.info(name);
      EXPECT_EQ(after.info(name).dtype, info.dtype) << name;
      EXPECT_EQ(after.file_of(name).path(),
                out + before.file_of(name).path().substr(source.size()));
      const auto got = after.file_of(name).view(name);
      const auto original = before.file_of(name).view(name);
      const bool is_trained = std::any_of(report.changed.begin(), report.changed.end(),
                                          [&](const ExportedTensor& t) { return t.name == name; });
      EXPECT_EQ(torch::equal(got, original), !is_trained) << name;
      if (is_trained) {
        const auto& fp32 = d.tensors.at(name.substr(std::string("model.").size()));
        EXPECT_TRUE(torch::equal(got, fp32.to(info.dtype))) << name;
      }
    }
    for (size_t i = 0; i < before.shard_names().size(); ++i) {
      EXPECT_EQ(after.shard(i).metadata(), before.shard(i).metadata());
    }

    test::expect_input_error(
        [&] {
          export_hf_checkpoint({source, delta, out, false, ""});
        },
        {"export.output_dir", out, "exists", "export.overwrite"});
    EXPECT_EQ(export_hf_checkpoint({source, delta, out + "/", true, ""}).changed.size(), 3u);
    test::expect_input_error(
        [&] {
          export_hf_checkpoint({source, delta, source + "/x", true, ""});
        },
        {"export.output_dir", "inside"});
    test::expect_input_error(
        [&] {
          export_hf_checkpoint({source, delta, dir_ + "/other", false, "MixtralForCausalLM"});
        },
        {delta, "'layers.2.mlp.experts.1.up_proj.weight'", "block_sparse_moe", "is not in"});
    EXPECT_FALSE(fs::exists(dir_ + "/other"));
  }
}

TEST(HfNames, PublishedMixtralWeightMapIsExactlyTheModel) {
  const std::string index = std::string(UOE_SOURCE_DIR) +
                            "/../shared/data/hf/Mixtral-8x7B-v0.1/model.safetensors.index.json";
  if (!fs::exists(index)) GTEST_SKIP() << index << " is not present";
  nlohmann::json weight_map;
  std::ifstream(index) >> weight_map;
  std::set<std::string> published;
  for (const auto& item : weight_map["weight_map"].items()) published.insert(item.key());

  ModelConfig c = mixtral_like_config(8);  // Mixtral-8x7B's names: 32 layers of 8 experts
  c.num_hidden_layers = 32;
  CausalLM model(c, nullptr);
  std::set<std::string> ours;
  for (const auto& item : model->named_parameters()) {
    ours.insert(hf_parameter_name("MixtralForCausalLM", item.key()));
  }
  EXPECT_EQ(published.size(), 995u);
  EXPECT_EQ(ours, published);
}

TEST(HfNames, Renames) {
  EXPECT_EQ(hf_parameter_name("", "layers.3.mlp.shared_experts.up_proj.weight"),
            "model.layers.3.mlp.shared_experts.up_proj.weight");
  EXPECT_EQ(hf_parameter_name("Qwen2MoeForCausalLM", "layers.3.mlp.shared_experts.up_proj.weight"),
            "model.layers.3.mlp.shared_expert.up_proj.weight");
  EXPECT_EQ(hf_parameter_name("Qwen2MoeForCausalLM", "layers.3.mlp.shared_expert_gate.weight"),
            "model.layers.3.mlp.shared_expert_gate.weight");
  EXPECT_EQ(hf_parameter_name("MixtralForCausalLM", "layers.0.mlp.experts.7.down_proj.weight"),
            "model.layers.0.block_sparse_moe.experts.7.w2.weight");
  EXPECT_EQ(hf_parameter_name("MixtralForCausalLM", "layers.0.mlp.gate.weight"),
            "model.layers.0.block_sparse_moe.gate.weight");
  EXPECT_EQ(hf_parameter_name("DeepseekV3ForCausalLM", "layers.5.mlp.gate.e_score_correction_bias"),
            "model.layers.5.mlp.gate.e_score_correction_bias");
  EXPECT_EQ(
      hf_parameter_name("DeepseekV2ForCausalLM", "layers.1.self_attn.kv_a_proj_with_mqa.weight"),
      "model.layers.1.self_attn.kv_a_proj_with_mqa.weight");
  EXPECT_EQ(hf_parameter_name("OlmoeForCausalLM", "lm_head.weight"), "lm_head.weight");
  ModelConfig tied = test::tiny_moe_config(4);
  tied.tie_word_embeddings = true;
  EXPECT_TRUE(hf_tensor_is_unused("", tied, "lm_head.weight"));
  EXPECT_FALSE(hf_tensor_is_unused("", test::tiny_moe_config(4), "lm_head.weight"));
  EXPECT_FALSE(hf_tensor_is_unused("", tied, "model.layers.3.mlp.gate.weight"));
  EXPECT_TRUE(hf_tensor_is_unused("DeepseekV3ForCausalLM", tied, "model.layers.3.mlp.gate.weight"));
}

}  // namespace
}  // namespace uoe
