#pragma once
// Training options of the run config (config/run_config.h): the top-level keys named as in
// LLaMA-Factory / HF TrainingArguments, and `profile:`.
#include <cstdint>
#include <string>

#include "common/named_enum.h"

namespace uoe {

// lr_scheduler_type (train/lr_schedule.h).
enum class LrSchedulerType { kConstant, kLinear, kCosine };
inline constexpr EnumName<LrSchedulerType> kLrSchedulerTypes[] = {
    {LrSchedulerType::kConstant, "constant"},
    {LrSchedulerType::kLinear, "linear"},
    {LrSchedulerType::kCosine, "cosine"}};
inline const char* to_string(LrSchedulerType type) { return enum_name(kLrSchedulerTypes, type); }

// moe_aux_loss_scope (train/balancing_loss.h).
enum class AuxLossScope { kMicroBatch, kSequence, kGlobalBatch };
inline constexpr EnumName<AuxLossScope> kAuxLossScopes[] = {
    {AuxLossScope::kMicroBatch, "micro_batch"},
    {AuxLossScope::kSequence, "sequence"},
    {AuxLossScope::kGlobalBatch, "global_batch"}};
inline const char* to_string(AuxLossScope scope) { return enum_name(kAuxLossScopes, scope); }

// `profile:` per-step time breakdown (common/step_profiler.h).
struct ProfileConfig {
  bool breakdown = true;  // <output_dir>/breakdown.jsonl per step, summary.json "breakdown"
};

struct TrainingConfig {
  std::string output_dir;
  uint64_t seed = 42;
  int64_t max_steps = 100;  // 0: derive from num_train_epochs
  int64_t logging_steps = 10;
  int64_t per_device_train_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 1e-3;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;  // 0 disables clipping
  LrSchedulerType lr_scheduler_type = LrSchedulerType::kCosine;
  double warmup_ratio = 0.0;
  int64_t warmup_steps = 0;     // overrides warmup_ratio when > 0
  double num_train_epochs = 0;  // used when max_steps is 0: epochs over the data
  bool save_full_model = true;  // write <output_dir>/checkpoint at the end
  // Training checkpoints <output_dir>/checkpoint-<step> (model or trained tensors, optimizer,
  // trainer state) every save_steps optimizer steps; 0: none. On SIGTERM/SIGUSR1 one is written
  // at the next step boundary whatever save_steps is.
  int64_t save_steps = 0;
  int64_t save_total_limit = 0;        // keep only the newest N training checkpoints; 0: all
  std::string resume_from_checkpoint;  // "": start fresh; "auto": newest complete one, if any;
                                       // otherwise a checkpoint-<step> directory
  bool overwrite_output_dir = false;   // allow writing into a non-empty output_dir
  // A collective still running after this many seconds ends the rank with an error line naming
  // it and the step (parallel/collective_watchdog.h); HF TrainingArguments' key and default.
  double ddp_timeout = 1800;
  // Recompute each decoder layer in backward instead of keeping its activations
  // (model/recompute.h); HF's key. Same losses and gradients, less memory, more time.
  bool gradient_checkpointing = false;
  // Load balancing of MoE routers (train/balancing_loss.h), HF's key names; 0 = off.
  double router_aux_loss_coef = 0.0;  // Switch auxiliary loss
  double router_z_loss_coef = 0.0;    // ST-MoE router z-loss
  AuxLossScope moe_aux_loss_scope = AuxLossScope::kMicroBatch;
  double moe_router_bias_update_rate = 0.0;  // DeepSeek-V3 aux-loss-free bias (pretrain)
  // LLaMA-Factory's key: weights and activations in bf16, fp32 master copies and AdamW state for
  // the trainable tensors (train/distributed_optimizer.h). `fp16: true` is refused.
  bool bf16 = false;
};

}  // namespace uoe
