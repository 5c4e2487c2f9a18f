#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace uoe {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return peak * double(step + 1) / double(warmup_steps + 1);
  if (type == "constant") return peak;
  const double span = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::clamp(double(step - warmup_steps) / span, 0.0, 1.0);
  if (type == "linear") return peak * (1.0 - progress);
  return peak * 0.5 * (1.0 + std::cos(M_PI * progress));
}

int64_t resolve_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * double(total_steps)));
}

}  // namespace uoe
