// Config loading: overrides, defaults, unknown keys with hints, type and range errors that name
// the dotted key.
#include <unistd.h>

#include <fstream>

#include "common/config_node.h"
#include "config/run_config.h"
#include "test_utils.h"

namespace uoe {
namespace {

std::string write_config(const std::string& text) {
  static int counter = 0;
  const std::string path = testing::TempDir() + "uoe_config_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter++) + ".yaml";
  std::ofstream(path) << text;
  return path;
}

const char* kMinimal = R"(
output_dir: /tmp/out
model:
  vocab_size: 64
  hidden_size: 16
  num_hidden_layers: 2
  num_attention_heads: 2
  num_experts: 4
  num_experts_per_tok: 2
  moe_intermediate_size: 8
data:
  vocab_size: 64
  seq_len: 8
)";

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    load_run_config(write_config(text), overrides);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(RunConfig, DefaultsAndOverrides) {
  auto config = load_run_config(
      write_config(kMinimal),
      {"max_steps=7", "parallel.ep_size=2", "model.rope_theta=5e5", "learning_rate=0.5"});
  EXPECT_EQ(config.training.max_steps, 7);
  EXPECT_EQ(config.parallel.ep_size, 2);
  EXPECT_DOUBLE_EQ(config.model.rope_theta, 5e5);
  EXPECT_DOUBLE_EQ(config.training.learning_rate, 0.5);
  EXPECT_EQ(config.model.num_key_value_heads, 2);  // defaults to num_attention_heads
  EXPECT_EQ(std::string(to_string(config.training.lr_scheduler_type)), "cosine");
  // The resolved tree records defaults too.
  EXPECT_EQ(config.resolved["per_device_train_batch_size"].as<int64_t>(), 8);
  EXPECT_EQ(config.resolved["model"]["num_key_value_heads"].as<int64_t>(), 2);
}

TEST(RunConfig, UnknownKeyGetsDidYouMean) {
  const auto e = error_of(kMinimal, {"model.hiden_size=3"});
  EXPECT_NE(e.find("unknown config key 'model.hiden_size'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'model.hidden_size'"), std::string::npos) << e;
  const auto top = error_of(std::string(kMinimal) + "learnig_rate: 1\n");
  EXPECT_NE(top.find("did you mean 'learning_rate'"), std::string::npos) << top;
  // A list or mapping as a key (YAML allows it).
  const auto list_key = error_of(std::string(kMinimal) + "? [a]\n: 1\n");
  EXPECT_NE(list_key.find("has a list or mapping as a key"), std::string::npos) << list_key;
  const auto nested = error_of(std::string(kMinimal) + "unlearn:\n  ? {a: 1}\n  : 1\n");
  EXPECT_NE(nested.find("section 'unlearn' has a list or mapping"), std::string::npos) << nested;
}

TEST(RunConfig, WrongTypeNamesTheKey) {
  const auto e = error_of(kMinimal, {"model.hidden_size=abc"});
  EXPECT_NE(e.find("'model.hidden_size': expected an integer"), std::string::npos) << e;
}

TEST(RunConfig, OutOfRangeAndContradictions) {
  EXPECT_NE(error_of(kMinimal, {"max_steps=0"}).find("max_steps must be >= 1"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"parallel.ep_size=3"}).find("parallel.ep_size=3"),
            std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"model.num_experts_per_tok=5"}).find("model.num_experts_per_tok"),
            std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"lr_scheduler_type=wsd"}).find("lr_scheduler_type"),
            std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"model.router_type=topk"}).find("model.router_type"),
            std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"data.seq_len=4096"}).find("max_position_embeddings"),
            std::string::npos);
}

TEST(RunConfig, SelectionContrastAndDomainForgetKeys) {
  const auto config = load_run_config(
      write_config(kMinimal),
      {"unlearn.selection.mode=contrast", "dataset.retain=r.h5", "facts.forget_scope=domain"});
  EXPECT_EQ(config.unlearn.selection.mode, SelectionMode::kContrast);
  EXPECT_TRUE(config.facts.forget_domain());
  EXPECT_EQ(load_run_config(write_config(kMinimal), {}).facts.forget_scope, "entities");
  const auto no_retain = error_of(kMinimal, {"unlearn.selection.mode=contrast"});
  EXPECT_NE(no_retain.find("unlearn.selection.mode=contrast needs dataset.retain"),
            std::string::npos)
      << no_retain;
  const auto bad_mode = error_of(kMinimal, {"unlearn.selection.mode=contrastive"});
  EXPECT_NE(bad_mode.find("unlearn.selection.mode must be attribution, contrast,"),
            std::string::npos)
      << bad_mode;
  const auto unknown = error_of(kMinimal, {"unlearn.selection.contrast_epsilon=1e-6"});
  EXPECT_NE(unknown.find("unknown config key 'unlearn.selection.contrast_epsilon'"),
            std::string::npos)
      << unknown;
  const auto scope = error_of(kMinimal, {"facts.forget_scope=cluster"});
  EXPECT_NE(scope.find("facts.forget_scope must be entities or domain"), std::string::npos)
      << scope;
  const auto both = error_of(kMinimal, {"facts.forget_scope=domain", "facts.forget_entities=3"});
  EXPECT_NE(both.find("facts.forget_entities does not apply with facts.forget_scope=domain"),
            std::string::npos)
      << both;
  const auto one = error_of(kMinimal, {"facts.forget_scope=domain", "facts.num_clusters=1"});
  EXPECT_NE(one.find("facts.forget_scope=domain needs facts.num_clusters >= 2"), std::string::npos)
      << one;
}

TEST(RunConfig, MissingRequiredKeyAndFile) {
  EXPECT_NE(error_of("model: {}\n").find("missing required config key 'output_dir'"),
            std::string::npos);
  try {
    load_run_config("/nonexistent/config.yaml", {});
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.yaml"), std::string::npos);
  }
  EXPECT_NE(error_of("output_dir: [unclosed\n").find("not valid YAML"), std::string::npos);
}

TEST(RunConfig, MalformedOverride) {
  EXPECT_NE(error_of(kMinimal, {"max_steps"}).find("dotted.key=value"), std::string::npos);
  EXPECT_NE(error_of(kMinimal, {"output_dir.x=1"}).find("not a mapping"), std::string::npos);
}

TEST(EditDistance, Basics) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
}

}  // namespace
}  // namespace uoe
