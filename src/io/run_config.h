#pragma once
// The run configuration shared by every `uoe` command: top-level training keys (named as in
// LLaMA-Factory / HF TrainingArguments), `parallel:`, `model:` and `data:`.
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "io/fictitious_facts.h"
#include "io/hf_export.h"
#include "io/synthetic_corpus.h"
#include "io/text_corpus.h"
#include "model/model_config.h"

namespace uoe {

struct ParallelConfig {
  int ep_size = 1;               // experts are split over ep_size ranks
  std::string backend = "mpi";   // mpi | nccl
  int threads_per_rank = 0;      // 0: cores on the node / ranks on the node
  bool overlap_dispatch = false; // shared experts run while the token all-to-all is in flight
  bool shared_memory_dispatch = true;  // tokens move through node-shared memory when the EP
                                       // group's ranks share a node (CPU tensors)
};

// `profile:` per-step time breakdown (common/step_profiler.h).
struct ProfileConfig {
  bool breakdown = true;  // <output_dir>/breakdown.jsonl per step, summary.json "breakdown"
};

struct TrainingConfig {
  std::string output_dir;
  uint64_t seed = 42;
  int64_t max_steps = 100;                // 0: derive from num_train_epochs
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
  double num_train_epochs = 0;            // used when max_steps is 0: epochs over the data
  bool save_full_model = true;            // write <output_dir>/checkpoint at the end
  // Training checkpoints <output_dir>/checkpoint-<step> (model or trained tensors, optimizer,
  // trainer state) every save_steps optimizer steps; 0: none. On SIGTERM/SIGUSR1 one is written
  // at the next step boundary whatever save_steps is.
  int64_t save_steps = 0;
  int64_t save_total_limit = 0;           // keep only the newest N training checkpoints; 0: all
  std::string resume_from_checkpoint;     // "": start fresh; "auto": newest complete one, if any;
                                          // otherwise a checkpoint-<step> directory
  bool overwrite_output_dir = false;      // allow writing into a non-empty output_dir
  // A collective still running after this many seconds ends the rank with an error line naming
  // it and the step (parallel/collective_watchdog.h); HF TrainingArguments' key and default.
  double ddp_timeout = 1800;
  // Load balancing of MoE routers (train/balancing_loss.h), HF's key names; 0 = off.
  double router_aux_loss_coef = 0.0;              // Switch auxiliary loss
  double router_z_loss_coef = 0.0;                // ST-MoE router z-loss
  std::string moe_aux_loss_scope = "micro_batch"; // micro_batch | sequence | global_batch
  double moe_router_bias_update_rate = 0.0;       // DeepSeek-V3 aux-loss-free bias (pretrain)
};

// `dataset:` files. Token datasets are HDF5 (io/token_dataset.h); MC probes are JSONL
// {"question", "choices", "answer"} scored like lm-eval (unlearn/multiple_choice.h) with the
// tokenizer in `tokenizer`.
struct DatasetConfig {
  std::string train;      // pretraining corpus; empty: the synthetic corpus of `data:`
  std::string forget;     // forget set (QA, loss on answers)
  std::string retain;     // retain set
  std::string forget_mc;  // multiple-choice probes over the forget facts
  std::string retain_mc;
  std::string tokenizer;  // the model's tokenizer.json (or its directory), or the vocab.json of the
                          // built-in data's word tokenizer; needed for MC probes
};

// `unlearn.selection:` which experts are unlearned.
struct SelectionConfig {
  std::string mode = "attribution";  // attribution | fixed | random | layer | full
  std::string scope = "global";      // attribution: top-M over all layers, or within one layer
  int64_t top_m = 1;
  int64_t layer = -1;                // fixed / layer mode (model layer index); -1: from attribution
  std::vector<int64_t> experts;      // fixed mode: global expert ids in `layer`
  bool include_shared = false;       // also train the target layer's shared experts
};

// `unlearn:` the unlearning objective l_f + retain_weight * l_r + anchor_weight * L_anchor.
struct UnlearnConfig {
  std::string method = "ga";  // ga | gdiff | npo | simnpo | rmu
  double retain_weight = 1.0;  // lambda (gdiff, rmu; npo/simnpo add retain NLL when > 0)
  double anchor_weight = 1.0;  // alpha; 0 disables the router anchor loss
  double npo_beta = 0.1;
  double simnpo_beta = 2.5;
  double simnpo_delta = 0.0;
  double rmu_steering = 20.0;  // c: forget activations are pushed towards c * u
  double rmu_retain_alpha = 1.0;
  int64_t rmu_layer = -1;      // -1: the target layer
  SelectionConfig selection;
};

struct EvalConfig {
  int64_t batch_size = 16;
  int64_t max_new_tokens = 4;  // greedy generation budget for ROUGE-L
  // Per-item multiple-choice results as JSONL (like lm-eval's --log_samples):
  // <output_dir>/samples_<set>.jsonl for `uoe eval` and `uoe pretrain`,
  // samples_{before,after}_<set>.jsonl for `uoe unlearn` (set: forget_mc | retain_mc).
  bool log_samples = false;
};

// `export:` where `uoe export` writes the HF directory (model_name_or_path with the delta applied).
struct ExportConfig {
  std::string output_dir;  // required by `uoe export`
  bool overwrite = false;  // replace an existing output_dir
};

// `tofu:` the TOFU metrics (unlearn/tofu_eval.h) of `uoe eval` and, after training, `uoe unlearn`.
// Each set is three token datasets of the same questions: the answers, the paraphrased answers,
// and the perturbed answers (K per question, in question order).
struct TofuConfig {
  std::string tokenizer;  // tokenizer.json or its directory: decodes greedy answers for ROUGE-L
  std::string forget_answer, forget_paraphrased, forget_perturbed;
  std::string retain_answer, retain_paraphrased, retain_perturbed;
  std::string reference;  // optional: the retain model's tofu.json, for forget quality
  int64_t max_new_tokens = 64;  // greedy answer budget (stops early at eos)
  int64_t rouge_questions = 0;  // ROUGE-L on the first N questions of each set only; 0: all
  bool enabled() const { return !forget_answer.empty(); }
};

struct RunConfig {
  std::string config_path;
  // uoe checkpoint directory or HF model directory (config.json + safetensors); empty: build
  // `model:` from scratch
  std::string model_name_or_path;
  std::string delta;               // optional unlearning delta applied after loading
  bool has_model = false;          // `model:` or model_name_or_path given
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
  YAML::Node resolved;      // every key with the value in use, for printing and saving
  std::string config_hash;  // FNV-1a of the resolved config (16 hex digits)
};

// What `uoe export` exports: model_name_or_path + delta -> export.output_dir.
HfExportOptions hf_export_options(const RunConfig& config);

// Parses and validates the config file with "dotted.key=value" overrides applied.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace uoe
