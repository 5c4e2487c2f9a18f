#pragma once
// The run configuration shared by every `uoe` command: top-level training keys (named as in
// LLaMA-Factory / HF TrainingArguments), `parallel:`, `model:` and `data:`.
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "io/synthetic_corpus.h"
#include "model/model_config.h"

namespace uoe {

struct ParallelConfig {
  int ep_size = 1;               // experts are split over ep_size ranks
  std::string backend = "mpi";   // mpi | nccl
  int threads_per_rank = 0;      // 0: cores on the node / ranks on the node
};

struct TrainingConfig {
  std::string output_dir;
  uint64_t seed = 42;
  int64_t max_steps = 100;
  int64_t logging_steps = 10;
  int64_t per_device_train_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;             // 0 disables clipping
  std::string lr_scheduler_type = "cosine";  // constant | linear | cosine
  double warmup_ratio = 0.0;
  int64_t warmup_steps = 0;               // overrides warmup_ratio when > 0
};

struct RunConfig {
  std::string config_path;
  ModelConfig model;
  ParallelConfig parallel;
  TrainingConfig training;
  SyntheticCorpusOptions data;
  YAML::Node resolved;  // every key with the value in use, for printing and saving
};

// Parses and validates the config file with "dotted.key=value" overrides applied.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace uoe
