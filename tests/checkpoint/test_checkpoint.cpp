// Checkpoints and deltas (checkpoint/checkpoint.h) under expert parallelism: a checkpoint saved at
// any ep_size loads bitwise at every other ep_size dividing the world, data-parallel replicas write
// one copy, incomplete or mismatching checkpoints are rejected with messages naming the file and
// tensor, and a delta saved from one layout applies to any layout.
//
// Every rank makes the same collective calls (ProcessGroups::create, save_*); checks use EXPECT_*.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint.h"
#include "formats/hdf5_file.h"
#include "test_models.h"
#include "test_utils.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

// The shared tiny model with every optional part switched on, so that all tensor kinds travel.
ModelConfig tiny_config(int64_t num_experts) {
  ModelConfig c = test::tiny_moe_config(num_experts);
  c.shared_expert_intermediate_size = 24;  // shared experts are dense tensors
  c.shared_expert_gate = true;
  c.router_type = "deepseek_v3";  // has a buffer (e_score_correction_bias)
  c.norm_topk_prob = true;
  c.head_dim = 8;
  c.attention_bias = true;
  c.rope_theta = 12345.5;
  c.rms_norm_eps = 1e-5;
  c.initializer_range = 0.03;
  c.routed_scaling_factor = 2.5;
  return c;
}

// Every ModelConfig field.
void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
#define EXPECT_SAME_FIELD(field) EXPECT_EQ(a.field, b.field) << #field
  EXPECT_SAME_FIELD(vocab_size);
  EXPECT_SAME_FIELD(hidden_size);
  EXPECT_SAME_FIELD(num_hidden_layers);
  EXPECT_SAME_FIELD(num_attention_heads);
  EXPECT_SAME_FIELD(num_key_value_heads);
  EXPECT_SAME_FIELD(head_dim);
  EXPECT_SAME_FIELD(intermediate_size);
  EXPECT_SAME_FIELD(max_position_embeddings);
  EXPECT_SAME_FIELD(rope_theta);
  EXPECT_SAME_FIELD(rms_norm_eps);
  EXPECT_SAME_FIELD(attention_bias);
  EXPECT_SAME_FIELD(tie_word_embeddings);
  EXPECT_SAME_FIELD(initializer_range);
  EXPECT_SAME_FIELD(num_experts);
  EXPECT_SAME_FIELD(num_experts_per_tok);
  EXPECT_SAME_FIELD(moe_intermediate_size);
  EXPECT_SAME_FIELD(first_k_dense_replace);
  EXPECT_SAME_FIELD(shared_expert_intermediate_size);
  EXPECT_SAME_FIELD(shared_expert_gate);
  EXPECT_SAME_FIELD(router_type);
  EXPECT_SAME_FIELD(norm_topk_prob);
  EXPECT_SAME_FIELD(routed_scaling_factor);
  EXPECT_SAME_FIELD(n_group);
  EXPECT_SAME_FIELD(topk_group);
#undef EXPECT_SAME_FIELD
}

// Parameters from `seed` (layout independent) and buffers from seeded values too.
CausalLM make_model(const ModelConfig& config, ProcessGroup ep, uint64_t seed) {
  CausalLM model(config, std::move(ep));
  model->initialize(seed);
  torch::NoGradGuard no_grad;
  uint64_t offset = 0;
  for (auto& buffer : model->buffers()) {
    buffer.copy_(test::seeded_randn(buffer.sizes(), seed * 1000 + ++offset));
  }
  return model;
}

std::map<std::string, torch::Tensor> state_of(const CausalLM& model) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : model->named_parameters()) state.emplace(item.key(), item.value());
  for (const auto& item : model->named_buffers()) state.emplace(item.key(), item.value());
  return state;
}

// Same tensor names and bitwise equal values.
void expect_same_state(const CausalLM& actual, const CausalLM& expected, const std::string& tag) {
  const auto got = state_of(actual), want = state_of(expected);
  EXPECT_EQ(got.size(), want.size()) << tag;
  for (const auto& [name, tensor] : want) {
    const auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << tag << ": missing " << name;
      continue;
    }
    EXPECT_TRUE(torch::equal(it->second, tensor)) << tag << ": " << name << " differs";
  }
}

std::vector<int> divisors(int n) {
  std::vector<int> result;
  for (int d = 1; d <= n; ++d) {
    if (n % d == 0) result.push_back(d);
  }
  return result;
}

// A shared directory and the checkpoint path in it.
class CheckpointTest : public test::SharedDirTest {
 protected:
  CheckpointTest() : SharedDirTest("uoe_test_checkpoint_") {}
  void SetUp() override {
    SharedDirTest::SetUp();
    ckpt_ = dir_ + "/ckpt";
  }

  std::string ckpt_;
};

TEST_F(CheckpointTest, SaveAtFullEpLoadsBitwiseAtEveryLayout) {
  const int n = world_->size();
  const auto config = tiny_config(2 * n);
  {
    auto groups = ProcessGroups::create(world_, n);
    CausalLM saved = make_model(config, groups.ep(), 11);
    save_checkpoint(ckpt_ + "/", saved, groups);  // a trailing slash names the same directory
  }
  for (const char* name : {"model_config.json", "dense.h5", "COMPLETE"}) {
    EXPECT_TRUE(fs::exists(ckpt_ + "/" + name)) << name;
  }
  for (int r = 0; r < n; ++r) EXPECT_TRUE(fs::exists(c10::str(ckpt_, "/experts-", r, ".h5")));
  EXPECT_FALSE(fs::exists(ckpt_ + ".tmp"));

  const ModelConfig read = read_checkpoint_config(ckpt_);
  expect_same_config(read, config);

  for (const int ep : divisors(n)) {
    const std::string tag = c10::str("saved at ep=", n, ", loaded at ep=", ep);
    auto groups = ProcessGroups::create(world_, ep);
    CausalLM loaded(read, groups.ep());
    loaded->initialize(99);
    CausalLM reference = make_model(config, groups.ep(), 11);
    EXPECT_FALSE(torch::equal(loaded->embed_tokens->weight, reference->embed_tokens->weight));
    load_checkpoint(ckpt_, loaded);
    expect_same_state(loaded, reference, tag);
  }
}

TEST_F(CheckpointTest, DataParallelReplicasWriteOneCopyAndResaveReplaces) {
  const int n = world_->size();
  const auto config = tiny_config(2 * n);
  auto full_ep = ProcessGroups::create(world_, n);
  {
    CausalLM first = make_model(config, full_ep.ep(), 5);
    save_checkpoint(ckpt_, first, full_ep);
  }
  if (world_->rank() == 0) {  // leftovers of an interrupted save
    fs::create_directories(ckpt_ + ".tmp");
    std::ofstream(ckpt_ + ".tmp/stale.txt") << "stale\n";
  }
  world_->barrier();
  auto no_ep = ProcessGroups::create(world_, 1);  // n data-parallel replicas of every expert
  {
    CausalLM second = make_model(config, no_ep.ep(), 6);
    save_checkpoint(ckpt_, second, no_ep);
  }
  EXPECT_TRUE(fs::exists(ckpt_ + "/experts-0.h5"));
  EXPECT_FALSE(fs::exists(ckpt_ + "/experts-1.h5"));
  EXPECT_FALSE(fs::exists(ckpt_ + "/stale.txt"));
  EXPECT_FALSE(fs::exists(ckpt_ + ".tmp"));

  CausalLM loaded(config, full_ep.ep());
  loaded->initialize(99);
  load_checkpoint(ckpt_, loaded);
  expect_same_state(loaded, make_model(config, full_ep.ep(), 6),
                    "saved at ep=1, loaded at ep=world");
}

TEST_F(CheckpointTest, IncompleteCheckpointIsRejected) {
  const int n = world_->size();
  const auto config = tiny_config(2 * n);
  auto groups = ProcessGroups::create(world_, n);
  CausalLM model = make_model(config, groups.ep(), 3);
  save_checkpoint(ckpt_, model, groups);
  world_->barrier();
  if (world_->rank() == 0) fs::remove(ckpt_ + "/COMPLETE");
  world_->barrier();
  test::expect_input_error([&] { read_checkpoint_config(ckpt_); }, {ckpt_, "COMPLETE"});
  test::expect_input_error([&] { load_checkpoint(ckpt_, model); }, {ckpt_, "COMPLETE"});
  test::expect_input_error([&] { read_checkpoint_config(dir_ + "/none"); },
                           {dir_ + "/none", "not exist"});
}

TEST_F(CheckpointTest, MismatchesNameFileAndTensor) {
  const int n = world_->size();
  const auto config = tiny_config(2 * n);
  auto groups = ProcessGroups::create(world_, n);
  {
    CausalLM model = make_model(config, groups.ep(), 3);
    save_checkpoint(ckpt_, model, groups);
  }
  auto tied_config = config;
  tied_config.tie_word_embeddings = true;
  const std::string tied_ckpt = dir_ + "/tied";
  {
    CausalLM tied = make_model(tied_config, groups.ep(), 3);
    save_checkpoint(tied_ckpt, tied, groups);
  }

  auto narrow_config = config;
  narrow_config.moe_intermediate_size = 8;
  CausalLM narrow(narrow_config, groups.ep());
  test::expect_input_error(
      [&] { load_checkpoint(ckpt_, narrow); },
      {ckpt_ + "/experts-", ".mlp.experts.", "down_proj.weight",
       c10::str("[", config.hidden_size, ", 16]"), c10::str("[", config.hidden_size, ", 8]")});
  CausalLM tied(tied_config, groups.ep());
  test::expect_input_error([&] { load_checkpoint(ckpt_, tied); },
                           {ckpt_ + "/dense.h5", "lm_head.weight", "does not exist in the model"});
  CausalLM untied(config, groups.ep());
  test::expect_input_error([&] { load_checkpoint(tied_ckpt, untied); },
                           {tied_ckpt + "/dense.h5", "missing tensor 'lm_head.weight'"});

  // A model_config.json with an unknown field or a wrong type names the file and the key.
  const std::string config_path = ckpt_ + "/model_config.json";
  nlohmann::json json;
  std::ifstream(config_path) >> json;
  world_->barrier();
  if (world_->rank() == 0) {
    auto typo = json;
    typo["hiden_size"] = 3;
    std::ofstream(config_path) << typo.dump(2);
  }
  world_->barrier();
  test::expect_input_error([&] { read_checkpoint_config(ckpt_); },
                           {config_path, "hiden_size", "did you mean", "hidden_size"});
  world_->barrier();
  if (world_->rank() == 0) {
    auto wrong_type = json;
    wrong_type["num_experts"] = "many";
    std::ofstream(config_path) << wrong_type.dump(2);
  }
  world_->barrier();
  test::expect_input_error([&] { read_checkpoint_config(ckpt_); }, {config_path, "num_experts"});

  // Without the file of the last EP rank, its experts are missing for a rank holding all experts.
  world_->barrier();
  if (world_->rank() == 0) fs::remove(c10::str(ckpt_, "/experts-", n - 1, ".h5"));
  world_->barrier();
  auto all_experts = ProcessGroups::create(world_, 1);
  CausalLM whole(config, all_experts.ep());
  test::expect_input_error([&] { load_checkpoint(ckpt_, whole); },
                           {ckpt_, "missing tensor 'layers.1.mlp.experts.", "experts-*.h5"});
}

// Names of the delta: all tensors of one expert on the last rank, one tensor of an expert on
// rank 0, and the router of layer 1.
std::vector<std::string> delta_names(int64_t last_expert) {
  const std::string expert = c10::str("layers.1.mlp.experts.", last_expert, ".");
  return {expert + "gate_proj.weight", expert + "up_proj.weight", expert + "down_proj.weight",
          "layers.2.mlp.experts.0.up_proj.weight", "layers.1.mlp.gate.weight"};
}

// The change an unlearning run would make; applied to whichever of the tensors this rank holds.
void modify(CausalLM& model, int64_t last_expert) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  const auto names = delta_names(last_expert);
  for (size_t i = 0; i < names.size(); ++i) {
    if (params.contains(names[i])) params[names[i]].mul_(2.0).add_(double(i + 1));
  }
}

TEST_F(CheckpointTest, DeltaAppliesToEveryLayout) {
  const int n = world_->size();
  const auto config = tiny_config(2 * n);
  const int64_t last_expert = 2 * n - 1;
  const std::string delta = dir_ + "/delta.h5";
  const nlohmann::json provenance = {{"method", "ga"},
                                     {"target", {{"layer", 1}, {"experts", {last_expert}}}},
                                     {"config_hash", "abc123"},
                                     {"steps", 7}};
  auto groups = ProcessGroups::create(world_, n);
  {
    CausalLM model = make_model(config, groups.ep(), 11);
    save_checkpoint(ckpt_, model, groups);
    modify(model, last_expert);
    EXPECT_EQ(model->named_parameters().contains(delta_names(last_expert)[0]),
              groups.rank() == n - 1);
    save_delta(delta, model, groups, delta_names(last_expert), provenance);

    // The same names on every rank are checked before any collective.
    const std::string dense_layer_expert = "layers.0.mlp.experts.0.up_proj.weight";
    test::expect_input_error(
        [&] { save_delta(delta, model, groups, {dense_layer_expert}, provenance); },
        {delta, dense_layer_expert, "not a routed expert"});
    test::expect_input_error(
        [&] { save_delta(delta, model, groups, {"no.such.weight"}, provenance); },
        {delta, "no.such.weight"});
    const std::string bad_suffix = "layers.1.mlp.experts.0.foo.weight";
    test::expect_input_error([&] { save_delta(delta, model, groups, {bad_suffix}, provenance); },
                             {delta, bad_suffix, "not a routed expert tensor"});
  }

  if (world_->rank() == 0) {  // the file against a single-process model with the same change
    Hdf5File file(delta, Hdf5File::Mode::kRead);
    auto names = delta_names(last_expert);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(file.dataset_names(), names);
    EXPECT_EQ(file.string_attribute("method"), "ga");
    EXPECT_EQ(file.string_attribute("target"), provenance["target"].dump());
    EXPECT_EQ(file.string_attribute("config_hash"), "abc123");
    EXPECT_EQ(nlohmann::json::parse(file.string_attribute("provenance")), provenance);
    CausalLM whole = make_model(config, nullptr, 11);
    modify(whole, last_expert);
    auto params = whole->named_parameters();
    for (const auto& name : names) {
      EXPECT_TRUE(torch::equal(file.read(name), params[name])) << name;
    }
  }

  for (const int ep : divisors(n)) {
    const std::string tag = c10::str("delta saved at ep=", n, ", applied at ep=", ep);
    auto layout = ProcessGroups::create(world_, ep);
    CausalLM fresh(config, layout.ep());
    fresh->initialize(99);
    load_checkpoint(ckpt_, fresh);
    EXPECT_EQ(apply_delta(delta, fresh), provenance) << tag;
    CausalLM reference = make_model(config, layout.ep(), 11);
    modify(reference, last_expert);
    expect_same_state(fresh, reference, tag);
  }
}

}  // namespace
}  // namespace uoe
