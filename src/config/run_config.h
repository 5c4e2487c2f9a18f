#pragma once
// The run configuration shared by every `uoe` command: top-level training keys (named as in
// LLaMA-Factory / HF TrainingArguments), `parallel:`, `model:` and `data:`.
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "checkpoint/hf_export.h"
#include "data/dataset_options.h"
#include "data/fictitious_facts.h"
#include "data/synthetic_corpus.h"
#include "data/text_corpus.h"
#include "eval/eval_options.h"
#include "model/model_config.h"
#include "parallel/parallel_options.h"
#include "train/training_options.h"
#include "unlearn/unlearn_options.h"

namespace uoe {

struct RunConfig {
  std::string config_path;
  // uoe checkpoint directory or HF model directory (config.json + safetensors); empty: build
  // `model:` from scratch
  std::string model_name_or_path;
  std::string delta;            // optional unlearning delta applied after loading
  std::string device = "auto";  // auto | cpu | cuda (common/device.h)
  bool has_model = false;       // `model:` or model_name_or_path given
  ModelConfig model;
  ParallelConfig parallel;
  ProfileConfig profile;
  TrainingConfig training;
  SyntheticCorpusOptions data;
  DatasetConfig dataset;
  UnlearnConfig unlearn;
  EvalConfig eval;
  FictitiousFactsOptions facts;  // `uoe make-data`
  TokenizeOptions tokenize;      // `uoe tokenize`
  ExportConfig export_config;    // `uoe export`
  TofuConfig tofu;               // TOFU metrics
  YAML::Node resolved;           // every key with the value in use, for printing and saving
  std::string config_hash;       // FNV-1a of the resolved config (16 hex digits)
};

// What `uoe export` exports: model_name_or_path + delta -> export.output_dir.
HfExportOptions hf_export_options(const RunConfig& config);

// Parses and validates the config file with "dotted.key=value" overrides applied.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace uoe
