// The start-up memory plan of a run on a GPU (plan/memory_plan.h) against injected capacities:
// the GPU's memory for the tensors and the share of a GPU that several ranks use; and the GPU
// memory queries (common/device_memory.h), which skip with the reason where no GPU is visible.
#include <gtest/gtest.h>

#include "common/device.h"
#include "common/device_memory.h"
#include "plan/memory_plan.h"
#include "test_models.h"
#include "test_utils.h"

namespace uoe {
namespace {

// Full training of the tests' small MoE model, fp32, 1 sequence of 4 tokens: the weights and the
// optimizer state take more than the activations.
RunWorkload full_workload() {
  RunWorkload w;
  w.seq_len = 4;
  w.sequences_per_rank = 1;
  return w;
}

MemoryPlan gpu_plan(double gpu_bytes, const RunWorkload& w = full_workload()) {
  return plan_run_memory(test::tiny_moe_config(4), {1, 1}, w,
                         {gpu_bytes, 0, "free memory of the test GPU", "cuda:0"});
}

TEST(GpuMemoryPlan, FitsTheGpu) {
  const MemoryPlan plan = gpu_plan(1e12);
  EXPECT_TRUE(plan.fits());
  check_memory_plan(plan);
  // On the GPU the expected peak is the plan itself (the CUDA context lies outside the free
  // memory).
  const auto json = plan.to_json();
  EXPECT_EQ(json["device"], "cuda:0");
  EXPECT_DOUBLE_EQ(json["expected_peak_device_allocated_bytes"].get<double>(),
                   plan.planned.total());
  EXPECT_FALSE(json.contains("expected_peak_rss_bytes"));
  EXPECT_NE(plan.describe().find("free memory of the test GPU"), std::string::npos)
      << plan.describe();
}

TEST(GpuMemoryPlan, RefusesWhatDoesNotFitTheGpuNamingWhatToChange) {
  // A GPU smaller than the weights and optimizer state: split the experts over more GPUs.
  const MemoryPlan tiny = gpu_plan(1000);
  ASSERT_LT(tiny.planned.activations, tiny.planned.weights + tiny.planned.optimizer);
  EXPECT_FALSE(tiny.fits());
  test::expect_input_error([&] { check_memory_plan(tiny); },
                           {"planned peak memory per rank", "free memory of the test GPU",
                            "raise parallel.ep_size (now 1) to split the experts over more GPUs"});
  // Full training in bf16 keeps fp32 master weights: more than fp32, so bf16 is not named.
  ASSERT_TRUE(tiny.in_bf16.has_value());
  ASSERT_GT(tiny.in_bf16->total(), tiny.planned.total());
  const MemoryPlan full = gpu_plan(tiny.planned.total() - 1);
  try {
    check_memory_plan(full);
    ADD_FAILURE() << "a plan over the GPU's capacity was not refused";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
  // SEUF trains one expert and router: bf16 halves the frozen weights. Between the bf16 plan and
  // the fp32 one, bf16 is named with what it plans.
  RunWorkload seuf = full_workload();
  seuf.method = PlanMethod::kSeuf;
  const MemoryPlan seuf_plan = gpu_plan(1000, seuf);
  ASSERT_LT(seuf_plan.in_bf16->total(), seuf_plan.planned.total());
  const MemoryPlan between =
      gpu_plan((seuf_plan.in_bf16->total() + seuf_plan.planned.total()) / 2, seuf);
  EXPECT_FALSE(between.fits());
  test::expect_input_error([&] { check_memory_plan(between); }, {"or set bf16: true (plans "});
  // A bf16 run is not told to set bf16.
  seuf.precision = "bf16";
  EXPECT_FALSE(gpu_plan(1000, seuf).in_bf16.has_value());
}

TEST(GpuCapacity, SmallestShareOfAGpuOverTheRanks) {
  constexpr int64_t kGiB = int64_t(1) << 30;
  // Ranks 0 and 1 share GPU 7 (80 GiB free: 40 each), rank 2 has GPU 8 alone with 30 GiB free,
  // rank 3 GPU 9 with 100 GiB.
  const std::vector<RankGpu> ranks = {{7, 0, 80 * kGiB, 96 * kGiB},
                                      {7, 0, 80 * kGiB, 96 * kGiB},
                                      {8, 1, 30 * kGiB, 80 * kGiB},
                                      {9, 0, 100 * kGiB, 141 * kGiB}};
  const MemoryCapacity capacity = gpu_capacity(ranks, "cuda:0");
  EXPECT_DOUBLE_EQ(capacity.bytes_per_rank, double(30 * kGiB));
  EXPECT_EQ(capacity.process_baseline, 0);
  EXPECT_EQ(capacity.device, "cuda:0");
  EXPECT_EQ(capacity.source,
            "free memory of rank 2's cuda:1, 30.0 GiB of 80.0 GiB, shared by 1 rank");
  // Three ranks on GPU 7: 80 / 3 GiB each is the smallest share.
  const std::vector<RankGpu> crowded = {ranks[0], ranks[0], ranks[2], ranks[0]};
  const MemoryCapacity shared = gpu_capacity(crowded, "cuda:0");
  EXPECT_DOUBLE_EQ(shared.bytes_per_rank, double(80 * kGiB / 3));
  EXPECT_NE(shared.source.find("rank 0's cuda:0, 80.0 GiB of 96.0 GiB, shared by 3 ranks"),
            std::string::npos)
      << shared.source;
}

TEST(DevicePeakMemory, NoneOnTheCpu) { EXPECT_FALSE(device_peak_memory("cpu").has_value()); }

// The reason a GPU query cannot run agrees with what device selection sees (common/device.h).
TEST(GpuMemory, UnavailableReasonMatchesTheBuild) {
  const DeviceEnvironment env = device_environment();
  const std::string reason = gpu_memory_unavailable_reason();
  if (!env.build_has_cuda) {
    EXPECT_EQ(reason, "LibTorch built without CUDA");
    EXPECT_THROW(gpu_memory("cuda:0"), InternalError);
  } else {
    EXPECT_EQ(reason, env.visible_gpus > 0 ? "" : "no GPU visible");
  }
}

TEST(GpuMemory, QueriesTheGpuAndItsPeaks) {
  const std::string reason = gpu_memory_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << "no GPU to query: " << reason;
  const GpuMemory gpu = gpu_memory("cuda:0");
  EXPECT_GT(gpu.total_bytes, 0);
  EXPECT_GT(gpu.free_bytes, 0);
  EXPECT_LE(gpu.free_bytes, gpu.total_bytes);
  EXPECT_FALSE(gpu.name.empty());
  EXPECT_EQ(gpu.uuid.size(), 32u);
  constexpr int64_t kBytes = int64_t(64) << 20;
  const auto block = torch::empty({kBytes}, torch::dtype(torch::kUInt8).device("cuda:0"));
  const auto peak = device_peak_memory("cuda:0");
  ASSERT_TRUE(peak.has_value());
  EXPECT_GE(peak->allocated_bytes, kBytes);
  EXPECT_GE(peak->reserved_bytes, peak->allocated_bytes);
  EXPECT_LE(gpu_memory("cuda:0").free_bytes, gpu.free_bytes - kBytes);
}

// The step breakdown's clock on a GPU: a phase counts the kernels queued inside it (its stamps
// are events on the stream), so queued matmuls take far longer than an empty phase, although the
// host only launched them; intervals add up.
TEST(GpuMemory, EventClockTimesQueuedKernels) {
  const std::string reason = gpu_memory_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << "no GPU to time: " << reason;
  const auto clock = device_profiler_clock("cuda:0");
  ASSERT_NE(clock, nullptr);
  const auto a = torch::randn({4096, 4096}, torch::Device("cuda:0"));  // [4096, 4096] fp32
  auto product = torch::mm(a, a);                                      // warm-up
  for (int step = 0; step < 2; ++step) {  // the second step reuses the first step's events
    clock->start_step();
    const int start = clock->stamp();
    const int empty_end = clock->stamp();
    for (int i = 0; i < 20; ++i) product = torch::mm(product, a).div_(4096);
    const int work_end = clock->stamp();
    const double empty_s = clock->seconds(start, empty_end);
    const double work_s = clock->seconds(empty_end, work_end);
    EXPECT_GE(empty_s, 0.0);
    EXPECT_GT(work_s, 10 * empty_s + 1e-4) << "20 matmuls of 4096^3 took " << work_s << " s";
    EXPECT_NEAR(clock->seconds(start, work_end), empty_s + work_s, 1e-5);
  }
  EXPECT_EQ(device_profiler_clock("cpu"), nullptr);
}

}  // namespace
}  // namespace uoe
