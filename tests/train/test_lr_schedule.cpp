// Learning-rate schedules against the formulas of HF transformers' get_{constant,linear,cosine}_
// schedule_with_warmup (LambdaLR multipliers evaluated at the 0-based optimizer step).
#include <cmath>

#include "test_utils.h"
#include "train/lr_schedule.h"

namespace uoe {
namespace {

double hf_multiplier(const std::string& type, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return double(step) / double(std::max<int64_t>(1, warmup));
  if (type == "constant") return 1.0;
  if (type == "linear") {
    return std::max(0.0, double(total - step) / double(std::max<int64_t>(1, total - warmup)));
  }
  const double progress = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

TEST(LrSchedule, MatchesHfSchedules) {
  for (const std::string type : {"constant", "linear", "cosine"}) {
    LrSchedule s{*enum_value(kLrSchedulerTypes, type), 2e-3, 5, 40};
    for (int64_t step = 0; step < 40; ++step) {
      EXPECT_NEAR(s.at(step), 2e-3 * hf_multiplier(type, step, 5, 40), 1e-15)
          << type << " step " << step;
    }
  }
}

TEST(LrSchedule, TotalStepsFromEpochs) {
  EXPECT_EQ(resolve_total_steps(7, 3.0, 10, 1), 7);  // max_steps wins
  EXPECT_EQ(resolve_total_steps(0, 3.0, 10, 1), 30);
  EXPECT_EQ(resolve_total_steps(0, 2.5, 3, 2), 4);   // ceil(2.5 * 3 / 2)
  EXPECT_EQ(resolve_total_steps(0, 0.01, 3, 1), 1);  // at least one step
}

TEST(LrSchedule, WarmupFromRatio) {
  EXPECT_EQ(resolve_warmup_steps(0, 0.1, 95), 10);
  EXPECT_EQ(resolve_warmup_steps(3, 0.5, 95), 3);
  EXPECT_EQ(resolve_warmup_steps(0, 0.0, 95), 0);
}

}  // namespace
}  // namespace uoe
