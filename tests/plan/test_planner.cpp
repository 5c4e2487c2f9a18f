// uoe plan: memory, FLOPs and time of a model small enough to count by hand, the recommended
// layout, the cluster file errors, and the real configs; the start-up memory plan of a run
// (plan/memory_plan.h) on the same model, and the `device:` choice (common/device.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "checkpoint/hf_config.h"
#include "common/device.h"
#include "model/parameter_count.h"
#include "plan/memory_plan.h"
#include "plan/planner.h"
#include "test_utils.h"

namespace uoe {
namespace {

// vocab 10, hidden 4, 2 layers (layer 0 dense, layer 1 MoE), 2 heads of 2, 1 kv head,
// dense FFN 8, 4 experts top-2 of FFN 3. Parameters (by hand):
//   embeddings 2*10*4 = 80, attention 2 * (4*(2+2)*2 + 2*2*4) = 96, norms 2*2*4 + 4 = 20,
//   dense MLP 3*4*8 = 96, router 4*4 = 16, experts 4 * 3*4*3 = 144 (36 each); total 452.
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

// fp32, 1 sequence of 2 tokens per rank; peak 1000 FLOP/s x MFU 0.5; intra-node links 32 B/s
// with 0.5 s latency; memory bandwidth 52*28 = 1456 B/s so that the SEUF AdamW update takes 1 s.
PlanInput hand_input() {
  PlanInput input;
  input.cluster.gpus_per_node = 8;
  input.cluster.peak_flops = 1000;
  input.cluster.mfu = 0.5;
  input.cluster.intra_node = {32, 0.5};
  input.cluster.inter_node = {1, 100};
  input.cluster.collective_overhead = 0.25;
  input.cluster.memory_bandwidth = 52 * 28;
  input.cluster.usable_memory_fraction = 1.0;
  input.workload.precision = "fp32";
  input.workload.seq_len = 2;
  input.workload.sequences_per_rank = 1;
  return input;
}

TEST(Planner, HandCountedModelHasTheExpectedParameters) {
  EXPECT_EQ(count_parameters(hand_model()).total(), 452);
}

TEST(Planner, MemoryOfEp2MatchesHandArithmetic) {
  const ModelConfig m = hand_model();
  const PlanInput input = hand_input();
  const LayoutPlan seuf = plan_layout(m, input, {2, 1}, PlanMethod::kSeuf);
  // Weights: dense 452 - 144 = 308 replicated + 144 / 2 experts, 4 bytes each.
  EXPECT_DOUBLE_EQ(seuf.memory.weights, 4.0 * 380);
  // SEUF trains the target layer's router (16) and one expert (36): fp32 grad + m + v.
  EXPECT_DOUBLE_EQ(seuf.memory.trainable, 52);
  EXPECT_DOUBLE_EQ(seuf.memory.optimizer, 52.0 * 12);
  // Layer 1 per token: attention 2*4 + 2*2 + 1*(2+2) + 2*2 = 20 values, MoE 2*4 + 2*(3*4 + 3*3)
  // = 50 values, 4 bytes each = 280, plus eager fp32 probabilities 2 heads * 2 * 4 = 16; logits
  // and their gradient 2 * 4 * 10 = 80. Two tokens: 2 * (280 + 16 + 80) = 752.
  EXPECT_DOUBLE_EQ(seuf.memory.activations, 752);
  // One all-to-all's send and receive buffer: 2 * T*K*H*4 = 2 * 2*2*4*4.
  EXPECT_DOUBLE_EQ(seuf.memory.comm_buffers, 128);

  const LayoutPlan full = plan_layout(m, input, {2, 1}, PlanMethod::kFull);
  EXPECT_DOUBLE_EQ(full.memory.trainable, 380);
  EXPECT_DOUBLE_EQ(full.memory.optimizer, 380.0 * 12);
  // + layer 0: attention 20 + dense 2*4 + 3*8 = 52 values * 4 + 16 = 224 per token.
  EXPECT_DOUBLE_EQ(full.memory.activations, 2.0 * (296 + 224 + 80));

  // bf16 halves weights and adds the fp32 master copy to the optimizer state.
  PlanInput bf16 = input;
  bf16.workload.precision = "bf16";
  const LayoutPlan seuf16 = plan_layout(m, bf16, {2, 1}, PlanMethod::kSeuf);
  EXPECT_DOUBLE_EQ(seuf16.memory.weights, 2.0 * 380);
  EXPECT_DOUBLE_EQ(seuf16.memory.optimizer, 52.0 * 16);
}

TEST(Planner, TimeOfEp2MatchesHandArithmetic) {
  const ModelConfig m = hand_model();
  const LayoutPlan seuf = plan_layout(m, hand_input(), {2, 1}, PlanMethod::kSeuf);
  // Forward per token: LM head 2*4*10 = 80; layer 0: 2*48 + scores 2*2*2*(2+2) = 128, + dense
  // 2*96 = 320; layer 1: 128 + 2*(16 + 2*36) = 304; sum 704. SEUF backward: LM head input grad 80,
  // router grad 2*16, expert 4*36 * (ep 2 * K 2 / E 4) = 144; sum 256. Two tokens: 1920 FLOPs.
  EXPECT_DOUBLE_EQ(seuf.time.flops, 1920);
  EXPECT_DOUBLE_EQ(seuf.time.compute, 1920.0 / 500);
  // Exchanges of 2*2*4*4 = 64 bytes, half to the peer: 32 / 32 B/s + 0.5 s latency + 0.25 s
  // per collective = 1.75 s; forward dispatch + combine, backward combine: 3; one count exchange
  // (latency only) 0.75 s.
  EXPECT_DOUBLE_EQ(seuf.time.all_to_all, 3 * 1.75 + 0.75);
  // Router gradient (16 fp32) ring all-reduce over 2 ranks: 2*(1/2) * 64 / 32 + 2*1*0.5 + 0.25.
  EXPECT_DOUBLE_EQ(seuf.time.grad_sync, 3.25);
  EXPECT_DOUBLE_EQ(seuf.time.optimizer, 1.0);
  // The forward reads both local experts of the MoE layer (36 values, 4 bytes each; T*K = 4 rows
  // reach them); SEUF's backward starts at that layer and reads them no more.
  EXPECT_DOUBLE_EQ(seuf.time.weight_streaming, 2 * 36 * 4 / 1456.0);
  EXPECT_DOUBLE_EQ(seuf.time.total(), 3.84 + 288 / 1456.0 + 6.0 + 3.25 + 1.0);
  EXPECT_EQ(seuf.time.collective_calls, 3 + 1 + 1);  // exchanges, count exchange, router all-reduce

  // Full: backward is twice the forward: 3 * 704 FLOPs per token; the experts' weights are read in
  // the forward and in both backward passes.
  const LayoutPlan full = plan_layout(m, hand_input(), {2, 1}, PlanMethod::kFull);
  EXPECT_DOUBLE_EQ(full.time.flops, 2 * 3 * 704.0);
  EXPECT_DOUBLE_EQ(full.time.weight_streaming, 3 * 288 / 1456.0);
}

TEST(Planner, OversubscribedCpuRanksShareTheCoreAndWaitPerCollective) {
  PlanInput input = hand_input();
  input.cluster.compute_units_per_node = 1;
  input.cluster.oversubscription_wait = 0.5;
  const LayoutPlan seuf = plan_layout(hand_model(), input, {2, 1}, PlanMethod::kSeuf);
  // Two ranks on one core: half the FLOP rate and memory bandwidth each, and every collective call
  // waits 0.5 s more (one rank beyond one per core): exchanges 1 + 0.5 + 0.75 s.
  EXPECT_DOUBLE_EQ(seuf.time.compute, 1920.0 / 250);
  EXPECT_DOUBLE_EQ(seuf.time.weight_streaming, 288 / 728.0);
  EXPECT_DOUBLE_EQ(seuf.time.optimizer, 2.0);
  EXPECT_DOUBLE_EQ(seuf.time.all_to_all, 3 * 2.25 + 1.25);
  EXPECT_DOUBLE_EQ(seuf.time.grad_sync, 3.75);
  // One rank per core: no wait.
  input.cluster.compute_units_per_node = 2;
  EXPECT_DOUBLE_EQ(plan_layout(hand_model(), input, {2, 1}, PlanMethod::kSeuf).time.all_to_all,
                   3 * 1.75 + 0.75);
}

TEST(Planner, RecommendsTheSmallestFittingLayout) {
  const ModelConfig m = hand_model();
  PlanInput input = hand_input();
  input.cluster.gpu_counts = {1, 2, 4};
  // Full, per rank: ep 1: 1808 + 5424 + 1200 = 8432 B; ep 2: 1520 + 4560 + 1200 + 128 = 7408 B;
  // ep 4: 1376 + 4128 + 1200 + 128 = 6832 B. 7500 B fit ep 2 and 4, never ep 1.
  input.cluster.memory_gib = 7500.0 / double(1ull << 30);
  const auto plans = plan_all(m, input, PlanMethod::kFull);
  ASSERT_EQ(plans.size(), 1u + 2u + 3u);  // ep in {1}, {1, 2}, {1, 2, 4}
  EXPECT_DOUBLE_EQ(plans[2].memory.total(), 7408);
  const LayoutPlan* best = recommend(plans);
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(best->layout.world(), 2);
  EXPECT_EQ(best->layout.ep, 2);
  input.cluster.memory_gib = 6000.0 / double(1ull << 30);
  EXPECT_EQ(recommend(plan_all(m, input, PlanMethod::kFull)), nullptr);
}

TEST(Planner, RejectsLayoutsThatDoNotDivideTheExperts) {
  test::expect_input_error(
      [] {
        plan_layout(hand_model(), hand_input(), {3, 1}, PlanMethod::kSeuf);
      },
      {"expert-parallel size 3", "4 experts"});
}

std::string write_cluster(const std::string& text) {
  static int counter = 0;
  const std::string path = testing::TempDir() + "uoe_cluster_" + std::to_string(::getpid()) + "_" +
                           std::to_string(counter++) + ".yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(Planner, ClusterFileErrorsNameTheKey) {
  test::expect_input_error(
      [] { load_plan_input(write_cluster("gpus_per_node: 8\nmfux: 0.3\n"), {}); },
      {"mfux", "did you mean 'mfu'"});
  test::expect_input_error([] { load_plan_input(write_cluster("peak_flops: fast\n"), {}); },
                           {"peak_flops", "a number"});
  test::expect_input_error(
      [] { load_plan_input(write_cluster("intra_node: {bandwidth: -1}\n"), {}); },
      {"intra_node.bandwidth", "> 0"});
  test::expect_input_error([] { load_plan_input("", {"workload.precision=fp8"}); },
                           {"workload.precision", "bf16 or fp32"});
  test::expect_input_error([] { load_plan_input("/nonexistent/cluster.yaml", {}); },
                           {"/nonexistent/cluster.yaml"});
}

TEST(Planner, PresetsLoadAndOverridesApply) {
  const PlanInput h100 =
      load_plan_input(std::string(UOE_SOURCE_DIR) + "/configs/clusters/h100_dgx.yaml",
                      {"workload.seq_len=1024", "gpu_counts=[16, 32]"});
  EXPECT_EQ(h100.cluster.gpus_per_node, 8);
  EXPECT_DOUBLE_EQ(h100.cluster.peak_flops, 989e12);
  EXPECT_EQ(h100.workload.seq_len, 1024);
  EXPECT_EQ(h100.cluster.gpu_counts, (std::vector<int64_t>{16, 32}));
  const PlanInput cpu =
      load_plan_input(std::string(UOE_SOURCE_DIR) + "/configs/clusters/cpu.yaml", {});
  EXPECT_EQ(cpu.workload.precision, "fp32");
  EXPECT_GT(cpu.cluster.compute_units_per_node, 0);
}

// DeepSeek-V2-Lite (64 experts) on H100s: SEUF trains 1/1000 of what full trains, so its
// optimizer state is tiny and it fits on fewer or equally many GPUs.
TEST(Planner, RealConfigSeufNeedsNoMoreGpusThanFull) {
  const ModelConfig m =
      read_hf_config(std::string(UOE_SOURCE_DIR) + "/tests/fixtures/hf_configs/DeepSeek-V2-Lite");
  PlanInput input;
  input.workload.attention = "fused";
  input.workload.recompute = true;
  const auto seuf = plan_all(m, input, PlanMethod::kSeuf);
  const auto full = plan_all(m, input, PlanMethod::kFull);
  const LayoutPlan* s = recommend(seuf);
  const LayoutPlan* f = recommend(full);
  ASSERT_NE(s, nullptr);
  ASSERT_NE(f, nullptr);
  EXPECT_LE(s->layout.world(), f->layout.world());
  EXPECT_LT(s->memory.optimizer * 100, f->memory.optimizer);
  EXPECT_LT(s->time.flops, f->time.flops);
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
  // Per token: each of the 2 layers' input (4 values of 4 bytes) + the rows the MoE layer's
  // exchanges delivered under EP 2, kept for the replay (K = 2 dispatched + 2 combined rows of 4
  // values: 64) + the largest layer (layer 1: 296) + logits and their gradient 80.
  EXPECT_DOUBLE_EQ(plan.with_recompute.activations, 2.0 * (32 + 64 + 296 + 80));
  EXPECT_DOUBLE_EQ(plan.planned.activations, plan.with_recompute.activations);
  EXPECT_DOUBLE_EQ(plan.without_recompute.activations, 2.0 * (296 + 224 + 80));
  // EP 1 exchanges nothing, so nothing is kept beyond the layer inputs.
  EXPECT_DOUBLE_EQ(
      plan_run_memory(hand_model(), {1, 1}, w, {1e6, 0, "test"}).with_recompute.activations,
      2.0 * (32 + 296 + 80));
}

TEST(MemoryPlan, DenseModelPlansFullTrainingAndRefusesSeuf) {
  ModelConfig dense = hand_model();
  dense.first_k_dense_replace = dense.num_hidden_layers;
  RunWorkload w = seuf_workload();
  w.method = PlanMethod::kFull;
  EXPECT_GT(plan_run_memory(dense, {1, 1}, w, {1e6, 0, "test"}).planned.total(), 0);
  w.method = PlanMethod::kSeuf;
  test::expect_input_error(
      [&] {
        plan_run_memory(dense, {1, 1}, w, {1e6, 0, "test"});
      },
      {"no MoE layer"});
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
}

TEST(Device, CudaAndAutoWithGpusTakeTheLocalRanksGpu) {
  // A GPU build with GPUs: the local rank picks one of the visible GPUs.
  const DeviceChoice gpu = choose_device("auto", {true, 4, 6});
  EXPECT_EQ(gpu.device, "cuda:2");
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_NE(gpu.reason.find("4 GPU(s) visible, local rank 6"), std::string::npos) << gpu.reason;
  EXPECT_EQ(choose_device("cuda", {true, 1, 3}).device, "cuda:0");  // bind_rank.sh: one visible
  EXPECT_EQ(choose_device("cuda", {true, 8, 3}).device, "cuda:3");
  EXPECT_FALSE(choose_device("cpu", {true, 8, 3}).is_cuda());
}

TEST(Device, CudaWithoutBuildOrGpuIsRefusedWithOneLineNamingTheKey) {
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
  test::expect_input_error([] { choose_device("tpu", {true, 1, 0}); }, {"device", "'tpu'"});
}

}  // namespace
}  // namespace uoe
