#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace uoe {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return peak * double(step) / double(std::max<int64_t>(1, warmup_steps));
  if (type == LrSchedulerType::kConstant) return peak;
  const double span = double(std::max<int64_t>(1, total_steps - warmup_steps));
  if (type == LrSchedulerType::kLinear)
    return peak * std::max(0.0, double(total_steps - step) / span);
  const double progress = double(step - warmup_steps) / span;
  return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

int64_t resolve_total_steps(int64_t max_steps, double num_train_epochs,
                            int64_t micro_steps_per_epoch, int64_t accumulation_steps) {
  if (max_steps > 0) return max_steps;
  return std::max<int64_t>(1, int64_t(std::ceil(num_train_epochs * double(micro_steps_per_epoch) /
                                                double(accumulation_steps))));
}

int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * double(total_steps)));
}

}  // namespace uoe
