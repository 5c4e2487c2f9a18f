// The start-up memory plan (plan/memory_plan.h) on the hand-counted model of test_planner.cpp:
// the same numbers as `uoe plan`'s model, SEUF's trainable set growing with the experts trained,
// recomputation, the refusal naming what to change; and the `device:` choice (common/device.h).
#include <gtest/gtest.h>

#include "common/device.h"
#include "expect_input_error.h"
#include "plan/memory_plan.h"

namespace uoe {
namespace {

// test_planner.cpp's hand model: 452 parameters, 144 of them in 4 experts of 36; router 16.
ModelConfig hand_model() {
  ModelConfig m;
  m.vocab_size = 10;
  m.hidden_size = 4;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 2;
  m.num_key_value_heads = 1;
  m.head_dim = 2;
  m.intermediate_size = 8;
  m.first_k_dense_replace = 1;
  m.num_experts = 4;
  m.num_experts_per_tok = 2;
  m.moe_intermediate_size = 3;
  return m;
}

RunWorkload seuf_workload() {
  RunWorkload w;
  w.method = PlanMethod::kSeuf;
  w.seq_len = 2;
  w.sequences_per_rank = 1;
  return w;
}

TEST(MemoryPlan, SameNumbersAsThePlanner) {
  const MemoryPlan plan = plan_run_memory(hand_model(), {2, 1}, seuf_workload(), {1e6, 0, "test"});
  // test_planner.cpp, MemoryOfEp2MatchesHandArithmetic: weights 4 * 380, router + expert 52
  // elements with 12 bytes each, activations 752, buffers 128.
  EXPECT_DOUBLE_EQ(plan.planned.weights, 4.0 * 380);
  EXPECT_DOUBLE_EQ(plan.planned.optimizer, 52.0 * 12);
  EXPECT_DOUBLE_EQ(plan.planned.activations, 752);
  EXPECT_DOUBLE_EQ(plan.planned.total(), 4.0 * 380 + 52 * 12 + 752 + 128);
  EXPECT_DOUBLE_EQ(plan.without_recompute.total(), plan.planned.total());
  EXPECT_TRUE(plan.fits());
  const auto json = plan.to_json();
  EXPECT_EQ(json["method"], "seuf");
  EXPECT_DOUBLE_EQ(json["planned_bytes"]["total"].get<double>(), plan.planned.total());
}

TEST(MemoryPlan, SeufTrainsOneRouterAndExpertPerSelectedExpert) {
  RunWorkload w = seuf_workload();
  w.seuf_experts = 3;
  const MemoryPlan plan = plan_run_memory(hand_model(), {1, 1}, w, {1e6, 0, "test"});
  EXPECT_DOUBLE_EQ(plan.planned.trainable, 3 * (16 + 36));
  w.method = PlanMethod::kFull;
  EXPECT_DOUBLE_EQ(plan_run_memory(hand_model(), {1, 1}, w, {1e6, 0, "test"}).planned.trainable,
                   452);
}

TEST(MemoryPlan, RecomputationKeepsLayerInputsAndOneLayer) {
  RunWorkload w = seuf_workload();
  w.method = PlanMethod::kFull;
  w.gradient_checkpointing = true;
  const MemoryPlan plan = plan_run_memory(hand_model(), {2, 1}, w, {1e6, 0, "test"});
  // Per token: each of the 2 layers' input (4 values of 4 bytes) + the largest layer (layer 1:
  // 296) + logits and their gradient 80: 2 * (32 + 296 + 80).
  EXPECT_DOUBLE_EQ(plan.with_recompute.activations, 2.0 * (32 + 296 + 80));
  EXPECT_DOUBLE_EQ(plan.planned.activations, plan.with_recompute.activations);
  EXPECT_DOUBLE_EQ(plan.without_recompute.activations, 2.0 * (296 + 224 + 80));
}

TEST(MemoryPlan, RefusalNamesWhatToChange) {
  // Weights and optimizer state dominate: split the experts, or a smaller model.
  const MemoryPlan weights =
      plan_run_memory(hand_model(), {1, 1}, seuf_workload(), {1000, 0, "MemAvailable"});
  EXPECT_FALSE(weights.fits());
  test::expect_input_error(
      [&] { check_memory_plan(weights); },
      {"planned peak memory per rank", "MemAvailable", "raise parallel.ep_size (now 1)"});
  // Activations dominate: the batch or the sequence length; recomputation when it would fit.
  // Full: 1000 sequences of 2 tokens keep 1000 * 2 * 600 bytes, with recomputation 2 * 408.
  RunWorkload big_batch = seuf_workload();
  big_batch.method = PlanMethod::kFull;
  big_batch.sequences_per_rank = 1000;
  const MemoryPlan activations =
      plan_run_memory(hand_model(), {1, 1}, big_batch, {1e6, 0, "MemAvailable"});
  ASSERT_FALSE(activations.fits());
  ASSERT_LE(activations.with_recompute.total(), 1e6);
  test::expect_input_error(
      [&] { check_memory_plan(activations); },
      {"lower per_device_train_batch_size (1000 sequences", "gradient_checkpointing: true"});
}

TEST(Device, CpuAndAutoWithoutCudaRunOnTheCpu) {
  EXPECT_EQ(choose_device("cpu", {true, 8, 3}).device, "cpu");
  EXPECT_EQ(choose_device("auto", {false, 0, 0}).reason, "auto: LibTorch built without CUDA");
  EXPECT_EQ(choose_device("auto", {true, 0, 0}).reason, "auto: no GPU visible");
  // A GPU build with GPUs: the local rank picks one; training stays on the CPU in this version.
  const DeviceChoice gpu = choose_device("auto", {true, 4, 6});
  EXPECT_EQ(gpu.device, "cpu");
  EXPECT_NE(gpu.reason.find("cuda:2 visible"), std::string::npos) << gpu.reason;
}

TEST(Device, CudaIsRefusedWithOneLineNamingTheKey) {
  test::expect_input_error(
      [] {
        choose_device("cuda", {false, 0, 0});
      },
      {"device=cuda", "without CUDA"});
  test::expect_input_error(
      [] {
        choose_device("cuda", {true, 0, 0});
      },
      {"device=cuda", "no GPU is visible"});
  test::expect_input_error(
      [] {
        choose_device("cuda", {true, 1, 0});
      },
      {"device=cuda", "not yet supported"});
  test::expect_input_error([] { choose_device("tpu", {true, 1, 0}); }, {"device", "'tpu'"});
}

}  // namespace
}  // namespace uoe
