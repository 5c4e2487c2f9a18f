#pragma once
#include <cstdint>

#include "train/training_options.h"

namespace uoe {

struct LrSchedule {
  LrSchedulerType type = LrSchedulerType::kConstant;
  double peak = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  // Learning rate for 0-based optimizer `step`, exactly as HF transformers'
  // get_{constant,linear,cosine}_schedule_with_warmup: peak * step / warmup_steps during warm-up
  // (so step 0 uses lr 0), then constant, or linear / half-cosine decay to 0 at total_steps.
  double at(int64_t step) const;
};

// Optimizer steps of a run: max_steps when > 0, otherwise enough steps for num_train_epochs passes
// over data of `micro_steps_per_epoch` global micro-batches (at least 1).
int64_t resolve_total_steps(int64_t max_steps, double num_train_epochs,
                            int64_t micro_steps_per_epoch, int64_t accumulation_steps);

// warmup_steps when > 0, otherwise ceil(warmup_ratio * total_steps), as HF TrainingArguments.
int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace uoe
