#include "io/run_config.h"

#include "io/config_node.h"
#include "io/model_config_yaml.h"

namespace uoe {
namespace {

ParallelConfig parse_parallel(ConfigNode node) {
  ParallelConfig p;
  p.ep_size = node.get<int>("ep_size", 1);
  p.backend = node.get<std::string>("backend", "mpi");
  p.threads_per_rank = node.get<int>("threads_per_rank", 0);
  node.finish();
  UOE_CHECK(p.ep_size >= 1, "parallel.ep_size must be >= 1, got ", p.ep_size);
  UOE_CHECK(p.backend == "mpi" || p.backend == "nccl",
            "parallel.backend must be 'mpi' or 'nccl', got '", p.backend, "'");
  UOE_CHECK(p.threads_per_rank >= 0, "parallel.threads_per_rank must be >= 0");
  return p;
}

TrainingConfig parse_training(ConfigNode& root) {
  TrainingConfig t;
  t.output_dir = root.require<std::string>("output_dir");
  t.seed = root.get<uint64_t>("seed", t.seed);
  t.max_steps = root.get<int64_t>("max_steps", t.max_steps);
  t.logging_steps = root.get<int64_t>("logging_steps", t.logging_steps);
  t.per_device_train_batch_size =
      root.get<int64_t>("per_device_train_batch_size", t.per_device_train_batch_size);
  t.gradient_accumulation_steps =
      root.get<int64_t>("gradient_accumulation_steps", t.gradient_accumulation_steps);
  t.learning_rate = root.get<double>("learning_rate", t.learning_rate);
  t.weight_decay = root.get<double>("weight_decay", t.weight_decay);
  t.adam_beta1 = root.get<double>("adam_beta1", t.adam_beta1);
  t.adam_beta2 = root.get<double>("adam_beta2", t.adam_beta2);
  t.adam_epsilon = root.get<double>("adam_epsilon", t.adam_epsilon);
  t.max_grad_norm = root.get<double>("max_grad_norm", t.max_grad_norm);
  t.lr_scheduler_type = root.get<std::string>("lr_scheduler_type", t.lr_scheduler_type);
  t.warmup_ratio = root.get<double>("warmup_ratio", t.warmup_ratio);
  t.warmup_steps = root.get<int64_t>("warmup_steps", t.warmup_steps);

  UOE_CHECK(!t.output_dir.empty(), "output_dir must not be empty");
  UOE_CHECK(t.max_steps >= 1, "max_steps must be >= 1, got ", t.max_steps);
  UOE_CHECK(t.logging_steps >= 1, "logging_steps must be >= 1, got ", t.logging_steps);
  UOE_CHECK(t.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1, got ",
            t.per_device_train_batch_size);
  UOE_CHECK(t.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1, got ",
            t.gradient_accumulation_steps);
  UOE_CHECK(t.learning_rate >= 0, "learning_rate must be >= 0, got ", t.learning_rate);
  UOE_CHECK(t.weight_decay >= 0, "weight_decay must be >= 0, got ", t.weight_decay);
  UOE_CHECK(t.adam_beta1 >= 0 && t.adam_beta1 < 1, "adam_beta1 must be in [0, 1)");
  UOE_CHECK(t.adam_beta2 >= 0 && t.adam_beta2 < 1, "adam_beta2 must be in [0, 1)");
  UOE_CHECK(t.adam_epsilon > 0, "adam_epsilon must be > 0");
  UOE_CHECK(t.max_grad_norm >= 0, "max_grad_norm must be >= 0 (0 disables clipping)");
  UOE_CHECK(t.lr_scheduler_type == "constant" || t.lr_scheduler_type == "linear" ||
                t.lr_scheduler_type == "cosine",
            "lr_scheduler_type must be constant, linear or cosine, got '", t.lr_scheduler_type,
            "'");
  UOE_CHECK(t.warmup_ratio >= 0 && t.warmup_ratio <= 1, "warmup_ratio must be in [0, 1], got ",
            t.warmup_ratio);
  UOE_CHECK(t.warmup_steps >= 0, "warmup_steps must be >= 0, got ", t.warmup_steps);
  return t;
}

SyntheticCorpusOptions parse_data(ConfigNode node, uint64_t default_seed) {
  SyntheticCorpusOptions d;
  const auto source = node.get<std::string>("source", "synthetic");
  UOE_CHECK(source == "synthetic", "data.source must be 'synthetic', got '", source, "'");
  d.vocab_size = node.get<int64_t>("vocab_size", d.vocab_size);
  d.seq_len = node.get<int64_t>("seq_len", d.seq_len);
  d.num_topics = node.get<int64_t>("num_topics", d.num_topics);
  d.branching = node.get<int64_t>("branching", d.branching);
  d.seed = node.get<uint64_t>("seed", default_seed);
  node.finish();
  return d;
}

}  // namespace

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  RunConfig config;
  config.config_path = path;
  config.resolved = YAML::Node(YAML::NodeType::Map);
  ConfigNode root(load_yaml_with_overrides(path, overrides), config.resolved, "");
  config.training = parse_training(root);
  config.model = parse_model_config(root.child("model"));
  config.parallel = parse_parallel(root.child("parallel"));
  config.data = parse_data(root.child("data"), config.training.seed);
  root.finish();
  config.data.validate(config.model.vocab_size);
  if (config.model.num_experts > 0) {
    UOE_CHECK(config.model.num_experts % config.parallel.ep_size == 0, "model.num_experts=",
              config.model.num_experts, " is not divisible by parallel.ep_size=",
              config.parallel.ep_size);
  }
  UOE_CHECK(config.data.seq_len <= config.model.max_position_embeddings, "data.seq_len=",
            config.data.seq_len, " exceeds model.max_position_embeddings=",
            config.model.max_position_embeddings);
  return config;
}

}  // namespace uoe
