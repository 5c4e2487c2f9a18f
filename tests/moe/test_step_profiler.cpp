// StepProfiler: step records, means, load imbalance, and the dispatcher's phases and bytes.
#include <chrono>
#include <thread>

#include "common/step_profiler.h"
#include "moe/token_dispatcher.h"
#include "parallel/process_groups.h"
#include "test_utils.h"

namespace uoe {
namespace {

TEST(StepProfiler, LoadImbalanceIsMaxOverMean) {
  EXPECT_DOUBLE_EQ(load_imbalance({1, 1, 1, 5}), 2.5);  // mean 2
  EXPECT_DOUBLE_EQ(load_imbalance({3, 3}), 1.0);
  EXPECT_DOUBLE_EQ(load_imbalance({0, 0, 0}), 0.0);
  EXPECT_DOUBLE_EQ(load_imbalance({}), 0.0);
  // Entropy of the shares over log E: [1/4, 1/4, 1/2] -> (2 * 0.25 * ln 4 + 0.5 * ln 2) / ln 3.
  EXPECT_NEAR(load_entropy({1, 1, 2}), (std::log(4.0) / 2 + std::log(2.0) / 2) / std::log(3.0),
              1e-12);
  EXPECT_DOUBLE_EQ(load_entropy({2, 2}), 1.0);
  EXPECT_DOUBLE_EQ(load_entropy({4, 0}), 0.0);
  EXPECT_DOUBLE_EQ(load_entropy({0, 0}), 0.0);
}

// A clock whose stamps get their time only when read, as device events do: the profiler must
// read them at end_step, not when a scope closes.
class DeferredClock final : public ProfilerClock {
 public:
  explicit DeferredClock(std::vector<double>& times) : times_(times) {}
  void start_step() override { stamps_ = 0; }
  int stamp() override { return stamps_++; }
  double seconds(int from, int to) override { return times_.at(to) - times_.at(from); }

 private:
  std::vector<double>& times_;  // time of stamp i, filled in by the test
  int stamps_ = 0;
};

// The default host clock times a scope around what it runs.
TEST(StepProfiler, HostClockTimesScopes) {
  StepProfiler profiler;
  profiler.start_step();
  {
    const StepProfiler::Scope forward(&profiler, "forward");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto record = profiler.end_step(1);
  EXPECT_GE(record["phases_s"]["forward"].get<double>(), 0.002);
  EXPECT_LE(record["phases_s"]["forward"].get<double>(), record["wall_s"].get<double>());
}

TEST(StepProfiler, RecordsSumPerLayerAndMeansOverSteps) {
  std::vector<double> times;
  StepProfiler profiler;
  profiler.set_clock(std::make_unique<DeferredClock>(times));
  for (int step = 1; step <= 2; ++step) {
    profiler.start_step();  // stamp 0
    {
      const StepProfiler::Scope forward(&profiler, "forward");         // stamps 1, 4
      const StepProfiler::Scope attention(&profiler, "attention", 0);  // stamps 2, 3
    }
    for (int layer : {1, 2}) {  // stamps 5, 6 and 7, 8
      const int start = profiler.stamp();
      profiler.add_interval("token_all_to_all", layer, start, profiler.stamp());
    }
    // forward 2 ms, attention 1.5 ms; the all-to-all 1 ms * step on layer 1, 2 ms * step on 2.
    times = {
        0.0, 0.001, 0.0012, 0.0027, 0.003, 0.01, 0.01 + 0.001 * step, 0.02, 0.02 + 0.002 * step,
        0.03};  // stamp 9 is end_step's
    profiler.add_bytes("token_all_to_all", 1, 100.0 * step);
    profiler.add_tokens_per_expert(1, {1, 2, 3, 6});  // two micro-batches add up
    profiler.add_tokens_per_expert(1, {1, 2, 3, 6});
    const auto record = profiler.end_step(step);
    EXPECT_EQ(record["step"].get<int64_t>(), step);
    EXPECT_NEAR(record["wall_s"].get<double>(), 0.03, 1e-12);
    EXPECT_NEAR(record["phases_s"]["forward"].get<double>(), 0.002, 1e-12);
    EXPECT_NEAR(record["layers"]["0"]["phases_s"]["attention"].get<double>(), 0.0015, 1e-12);
    EXPECT_NEAR(record["phases_s"]["token_all_to_all"].get<double>(), 0.003 * step, 1e-12);
    EXPECT_NEAR(record["layers"]["2"]["phases_s"]["token_all_to_all"].get<double>(), 0.002 * step,
                1e-12);
    EXPECT_EQ(record["layers"]["1"]["tokens_per_expert"], nlohmann::json({2, 4, 6, 12}));
    EXPECT_DOUBLE_EQ(record["layers"]["1"]["imbalance"].get<double>(), 2.0);  // 12 / 6
    EXPECT_DOUBLE_EQ(record["imbalance_max"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(record["layers"]["1"]["max_violation"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(record["max_violation_max"].get<double>(), 1.0);
    for (const auto& [phase, seconds] : record["phases_s"].items())
      EXPECT_GE(seconds, 0.0) << phase;
  }
  const auto summary = profiler.summary();
  EXPECT_EQ(summary["steps"].get<int64_t>(), 2);
  EXPECT_NEAR(summary["phases_s"]["token_all_to_all"].get<double>(), 0.0045, 1e-12);  // (3+6)/2 ms
  EXPECT_NEAR(summary["bytes"]["token_all_to_all"].get<double>(), 150.0, 1e-9);
  const std::string table = breakdown_table(summary);
  EXPECT_NE(table.find("  attention"), std::string::npos) << table;
  EXPECT_NE(table.find("load imbalance"), std::string::npos) << table;
}

TEST(StepProfiler, IntervalsAreReadFromTheClockWhenTheStepEnds) {
  std::vector<double> times;
  StepProfiler profiler;
  profiler.set_clock(std::make_unique<DeferredClock>(times));
  profiler.start_step();  // stamp 0
  {
    const StepProfiler::Scope exchange(&profiler, "token_all_to_all", 0);             // stamps 1, 4
    const int in_flight = profiler.stamp();                                           // stamp 2
    profiler.add_interval("token_all_to_all", 0, in_flight, profiler.stamp(), -1.0);  // stamp 3
  }
  StepProfiler::add_interval(nullptr, "token_all_to_all", 0, StepProfiler::stamp(nullptr), -1,
                             -1.0);
  times = {0.0, 1.0, 1.5, 2.0, 4.0, 5.0};  // stamp 5 is end_step's
  const auto record = profiler.end_step(1);
  EXPECT_DOUBLE_EQ(record["wall_s"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(record["layers"]["0"]["phases_s"]["token_all_to_all"].get<double>(),
                   3.0 - 0.5);  // 4 - 1 less the 0.5 in flight
  profiler.start_step();        // a new step numbers its stamps from 0 again
  times = {10.0, 10.25};
  EXPECT_DOUBLE_EQ(profiler.end_step(2)["wall_s"].get<double>(), 0.25);
}

// A clock that fails from its `fail_from`-th stamp on, as CUDA event records do after a device
// error.
class FailingClock final : public ProfilerClock {
 public:
  explicit FailingClock(int fail_from) : fail_from_(fail_from) {}
  void start_step() override { stamps_ = 0; }
  int stamp() override {
    if (stamps_ >= fail_from_) throw std::runtime_error("CUDA error: device-side assert");
    return stamps_++;
  }
  double seconds(int, int) override { return 0.0; }

 private:
  int fail_from_, stamps_ = 0;
};

// A scope's destructor never throws: a stamp that fails is thrown by end_step, and a scope left by
// an exception takes no stamp (the exception that ended the phase is what reaches the user).
TEST(StepProfiler, ScopesNeverThrowFromTheirDestructor) {
  StepProfiler failing;
  failing.set_clock(std::make_unique<FailingClock>(2));
  failing.start_step();                                                // stamp 0
  { const StepProfiler::Scope phase(&failing, "expert_compute", 0); }  // stamp 1, then fails
  EXPECT_THROW(
      {
        try {
          failing.end_step(1);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("device-side assert"), std::string::npos);
          throw;
        }
      },
      std::runtime_error);

  StepProfiler unwinding;
  unwinding.set_clock(std::make_unique<FailingClock>(3));  // a third stamp would fail end_step
  unwinding.start_step();
  EXPECT_THROW(
      {
        const StepProfiler::Scope phase(&unwinding, "expert_compute", 0);
        throw std::invalid_argument("the phase's own error");
      },
      std::invalid_argument);
  nlohmann::json record;
  EXPECT_NO_THROW(record = unwinding.end_step(1));  // nothing was stamped while unwinding
  EXPECT_FALSE(record["phases_s"].contains("expert_compute"));
}

// Bytes per collective are the rows each exchange sends: dispatch T*K rows, combine R rows, and
// the same again backward; the count exchange sends E int64 counts.
TEST(StepProfiler, DispatcherBytesMatchSplitSizes) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const int64_t hidden = 8, top_k = 2, experts = 4 * world->size(), tokens = 10 + groups.rank();
  TokenDispatcher dispatcher(groups.ep(), experts);
  StepProfiler profiler;
  profiler.start_step();
  dispatcher.set_profiler(&profiler, 3);
  auto x = test::seeded_randn({tokens, hidden}, 7 + groups.rank()).requires_grad_();
  auto ids = std::get<1>(test::seeded_randn({tokens, experts}, 3 + groups.rank()).topk(top_k, -1));
  auto [rows, plan] = dispatcher.dispatch(x, ids);
  auto out = dispatcher.combine(rows, plan, torch::full({tokens, top_k}, 0.5), true);
  out.sum().backward();
  const auto record = profiler.end_step(1);
  const auto layer = record["layers"]["3"];
  for (const char* phase : {"permutation", "combine"}) {
    EXPECT_GE(layer["phases_s"][phase].get<double>(), 0.0) << phase;
  }
  if (world->size() == 1) {
    EXPECT_FALSE(layer.contains("bytes")) << "no collective without expert parallelism";
    return;
  }
  const double row_bytes = hidden * 4.0;
  const double sent = double(tokens * top_k + rows.size(0)) * row_bytes;
  EXPECT_DOUBLE_EQ(layer["bytes"]["token_all_to_all"].get<double>(), sent);
  EXPECT_DOUBLE_EQ(layer["bytes"]["backward_token_all_to_all"].get<double>(), sent);
  EXPECT_DOUBLE_EQ(layer["bytes"]["count_exchange"].get<double>(), experts * 8.0);
  for (const char* phase : {"count_exchange", "token_all_to_all", "backward_token_all_to_all"}) {
    EXPECT_GE(layer["phases_s"][phase].get<double>(), 0.0) << phase;
  }
}

}  // namespace
}  // namespace uoe
