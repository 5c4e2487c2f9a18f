// `bf16: true`: the model built and computing in bf16 against the same model in fp32, the fp32
// master copies of the optimizer, and bf16 through checkpoints, deltas and HF weights.
//
// Tolerances come from measurement (tiny_moe_config, OPENBLAS_CORETYPE Haswell, SkylakeX and Zen,
// 1, 2 and 4 ranks, seeds 1-30): bf16 logits differ from fp32 by at most 1.9e-2 relative (max
// |diff| / max |fp32|), the loss by 7.1e-5 relative, this rank's gradients by 1.1e-2 (L2 norm of
// the difference / L2 norm); the loss over 30 AdamW steps by at most 5.1e-3 relative. The bounds
// below are 2-4x those.
#include <malloc.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "checkpoint/checkpoint.h"
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/hf_names.h"
#include "formats/safetensors_writer.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"
#include "test_models.h"
#include "test_utils.h"
#include "train/distributed_optimizer.h"

namespace uoe {
namespace {

namespace fs = std::filesystem;

constexpr double kLogitsTolerance = 4e-2, kLossTolerance = 3e-4, kGradTolerance = 3e-2;
constexpr double kTrainingLossTolerance = 1.5e-2;
constexpr int64_t kVocab = 40, kSeqLen = 12, kSeqPerRank = 2;

// Token ids [B, S + 1] for this rank: seeded by `seed` and the rank.
torch::Tensor batch_ids(uint64_t seed, int rank) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000 + uint64_t(rank));
  return torch::randint(kVocab, {kSeqPerRank, kSeqLen + 1}, gen, torch::kInt64);
}

torch::Tensor mean_nll(CausalLM& model, const torch::Tensor& ids, double global_tokens) {
  auto inputs = ids.narrow(1, 0, kSeqLen), labels = ids.narrow(1, 1, kSeqLen);
  auto logits = model->forward(inputs).logits;  // [B, S, V] fp32
  return token_nll_sum(logits, labels, torch::ones_like(labels)) / global_tokens;
}

CausalLM make_model(const ProcessGroups& groups, torch::Dtype dtype, uint64_t seed) {
  CausalLM model(test::tiny_moe_config(2 * groups.ep_size()), groups.ep(), dtype);
  model->initialize(seed);
  return model;
}

TrainingConfig adamw_config(double learning_rate) {
  TrainingConfig config;
  config.learning_rate = learning_rate;
  config.max_grad_norm = 1.0;
  return config;
}

TEST(Bf16, ModelIsBuiltInBf16) {
  auto groups = ProcessGroups::create(test::world(), test::world()->size());
  auto model = make_model(groups, torch::kBFloat16, 1);
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
  }
  EXPECT_EQ(model->dtype(), torch::kBFloat16);
  // DeepSeek-V3's aux-loss-free bias stays fp32 (updates far below bf16's rounding step).
  auto config = test::tiny_moe_config(4);
  config.router_type = "deepseek_v3";
  CausalLM v3(config, nullptr, torch::kBFloat16);
  const auto bias = v3->moe_layers().front()->gate->e_score_correction_bias;
  EXPECT_EQ(bias.scalar_type(), torch::kFloat32);
}

TEST(Bf16, ForwardAndBackwardMatchFp32) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const double global_tokens = double(kSeqPerRank * kSeqLen * world->size());
  double worst_logits = 0, worst_loss = 0, worst_grad = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    auto fp32 = make_model(groups, torch::kFloat32, seed);
    auto bf16 = make_model(groups, torch::kBFloat16, seed);
    const auto ids = batch_ids(seed, world->rank());
    auto inputs = ids.narrow(1, 0, kSeqLen);
    auto out32 = fp32->forward(inputs), out16 = bf16->forward(inputs);
    ASSERT_EQ(out16.logits.scalar_type(), torch::kFloat32);
    worst_logits = std::max(worst_logits, test::relative_error(out16.logits, out32.logits));
    for (const auto& [layer, moe] : out16.moe) {
      EXPECT_EQ(moe.routing.probs.scalar_type(), torch::kFloat32)
          << "router probs, layer " << layer;
      EXPECT_EQ(moe.hidden.scalar_type(), torch::kBFloat16) << "MoE output, layer " << layer;
    }
    auto loss32 = mean_nll(fp32, ids, global_tokens), loss16 = mean_nll(bf16, ids, global_tokens);
    worst_loss = std::max(worst_loss, test::relative_error(loss16, loss32));
    loss32.backward();
    loss16.backward();
    // Over all of this rank's gradients: a token routed to another expert in bf16 (a near tie
    // of router scores) changes that expert's gradient wholesale, so per-tensor errors would say
    // more about ties than about precision.
    const auto params32 = fp32->named_parameters();
    std::vector<torch::Tensor> grads16, grads32;
    for (const auto& item : bf16->named_parameters()) {
      const auto& g16 = item.value().grad();
      const auto& g32 = params32[item.key()].grad();
      ASSERT_TRUE(g16.defined() == g32.defined()) << item.key();
      if (!g16.defined()) continue;
      ASSERT_EQ(g16.scalar_type(), torch::kBFloat16) << item.key();
      grads16.push_back(g16.to(torch::kFloat32).reshape({-1}));
      grads32.push_back(g32.reshape({-1}));
    }
    const auto all16 = torch::cat(grads16), all32 = torch::cat(grads32);
    worst_grad = std::max(worst_grad, ((all16 - all32).norm() / all32.norm()).item<double>());
  }
  std::cout << "bf16 vs fp32 (rank " << world->rank() << "): logits " << worst_logits << ", loss "
            << worst_loss << ", gradients " << worst_grad << "\n";
  EXPECT_LE(worst_logits, kLogitsTolerance);
  EXPECT_LE(worst_loss, kLossTolerance);
  EXPECT_LE(worst_grad, kGradTolerance);
  EXPECT_GT(worst_logits, 0) << "bf16 and fp32 gave identical logits: was bf16 used at all?";
}

TEST(Bf16, ShortTrainingTracksFp32) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const double global_tokens = double(kSeqPerRank * kSeqLen * world->size());
  auto train = [&](torch::Dtype dtype) {
    auto model = make_model(groups, dtype, 7);
    DistributedOptimizer optimizer({model->dense_parameters(), model->expert_parameters()},
                                   adamw_config(3e-3), groups);
    std::vector<double> losses;
    for (int step = 0; step < 30; ++step) {
      optimizer.zero_grad();
      auto loss = mean_nll(model, batch_ids(100 + step % 4, world->rank()), global_tokens);
      loss.backward();
      auto total = loss.detach().to(torch::kFloat64);
      world->all_reduce(total, ReduceOp::kSum);
      losses.push_back(total.item<double>());
      optimizer.step(3e-3);
    }
    return losses;
  };
  const auto fp32 = train(torch::kFloat32), bf16 = train(torch::kBFloat16);
  double worst = 0;
  for (size_t i = 0; i < fp32.size(); ++i) {
    worst = std::max(worst, std::abs(bf16[i] - fp32[i]) / fp32[i]);
  }
  std::cout << "30 steps: loss fp32 " << fp32.front() << " -> " << fp32.back() << ", bf16 "
            << bf16.front() << " -> " << bf16.back() << ", worst relative difference " << worst
            << "\n";
  EXPECT_LT(bf16.back(), 0.9 * bf16.front()) << "bf16 training did not learn";
  EXPECT_LE(worst, kTrainingLossTolerance);
}

// A bf16 parameter at 1.0 (rounding step 2^-7) updated 200 times by AdamW steps of about 1e-4:
// without the master copy every step would round away and it would stay at 1.0.
TEST(Bf16, MasterCopyAccumulatesStepsBelowTheRoundingStep) {
  auto groups = ProcessGroups::create(test::world(), 1);
  auto reference = torch::ones({4}, torch::kFloat32).requires_grad_(true);
  auto param = torch::ones({4}, torch::kBFloat16).requires_grad_(true);
  auto frozen = torch::ones({4}, torch::kBFloat16);  // not given to the optimizer
  DistributedOptimizer opt32({{reference}, {}}, adamw_config(1e-4), groups);
  DistributedOptimizer opt16({{param}, {}}, adamw_config(1e-4), groups);
  EXPECT_EQ(opt16.master_bytes(), 4 * 4);
  EXPECT_EQ(opt32.master_bytes(), 0);
  for (int step = 0; step < 200; ++step) {
    for (auto* opt : {&opt32, &opt16}) opt->zero_grad();
    (reference * 0.5).sum().backward();
    (param * 0.5 + frozen).sum().backward();
    opt32.step(1e-4);
    opt16.step(1e-4);
  }
  const double moved = 1.0 - reference[0].item<double>();
  EXPECT_NEAR(moved, 200 * 1e-4, 1e-5);
  EXPECT_TRUE(torch::equal(param, reference.detach().to(torch::kBFloat16)))
      << param << " vs fp32 " << reference;
  EXPECT_LT(param[0].item<double>(), 1.0);
  EXPECT_EQ(param.scalar_type(), torch::kBFloat16);
  // Moments (2 x fp32) and the master (fp32) of the 4 trainable values only.
  EXPECT_EQ(opt16.state_bytes(), 3 * 4 * 4);
  EXPECT_EQ(opt32.state_bytes(), 2 * 4 * 4);
  EXPECT_TRUE(torch::equal(frozen, torch::ones({4}, torch::kBFloat16)));
}

// Micro-batch gradients sum in fp32 on the master: 1 + 2^-9 is exact in fp32 but rounds to 1 in
// bf16 (whose step at 1 is 2^-7), so a bf16 sum would report a gradient norm of exactly 1 per rank.
TEST(Bf16, MicroBatchGradientsSumInFp32) {
  auto groups = ProcessGroups::create(test::world(), 1);
  auto param = torch::ones({1}, torch::kBFloat16).requires_grad_(true);
  DistributedOptimizer optimizer({{param}, {}}, adamw_config(1e-4), groups);
  optimizer.zero_grad();
  (param * 1.0).sum().backward();
  optimizer.accumulate_gradients();
  (param * std::ldexp(1.0, -9)).sum().backward();
  // Gradients are summed over the data-parallel ranks (the losses carry the global normaliser).
  const double ranks = double(test::world()->size());
  EXPECT_NEAR(optimizer.step(1e-4), ranks * (1.0 + std::ldexp(1.0, -9)), 1e-7);
}

class Bf16Files : public test::SharedDirTest {
 protected:
  Bf16Files() : SharedDirTest("uoe_test_bf16_") {}
};

// Frozen tensors get neither a master copy nor moments; the masters survive save/load (a resumed
// bf16 run continues from the fp32 values, not from the rounded weights).
TEST_F(Bf16Files, FrozenTensorsHaveNoStateAndMastersAreSaved) {
  auto groups = ProcessGroups::create(world_, 1);
  auto model = make_model(groups, torch::kBFloat16, 3);
  const auto router = model->moe_layers().front()->gate->weight;
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  router.set_requires_grad(true);
  const auto frozen_before = model->norm->weight.clone();
  auto make_optimizer = [&] {
    return std::make_unique<DistributedOptimizer>(GradientGroups{{router}, {}}, adamw_config(1e-3),
                                                  groups);
  };
  auto optimizer = make_optimizer();
  const auto ids = batch_ids(9, world_->rank());
  auto step = [&](DistributedOptimizer& opt) {
    opt.zero_grad();
    mean_nll(model, ids, double(kSeqLen * kSeqPerRank)).backward();
    opt.step(1e-3);
  };
  step(*optimizer);
  EXPECT_EQ(optimizer->num_trainable_elements(), router.numel());
  EXPECT_EQ(optimizer->state_bytes(), 3 * 4 * router.numel());
  EXPECT_TRUE(torch::equal(model->norm->weight, frozen_before));
  EXPECT_FALSE(model->norm->weight.grad().defined());
  const std::string path = c10::str(dir_, "/optimizer-", world_->rank(), ".pt");
  optimizer->save(path);
  const auto saved = router.detach().clone();
  step(*optimizer);
  const auto expected = router.detach().clone();
  router.detach().add_(1.0);  // loading must put the master's value back into the weights
  auto restored = make_optimizer();
  restored->load(path);
  EXPECT_TRUE(torch::equal(router, saved));
  step(*restored);
  EXPECT_TRUE(torch::equal(router, expected));
}

TEST_F(Bf16Files, CheckpointAndDeltaKeepBf16) {
  auto groups = ProcessGroups::create(world_, world_->size());
  auto model = make_model(groups, torch::kBFloat16, 4);
  const std::string ckpt = dir_ + "/ckpt", delta = dir_ + "/delta.h5";
  save_checkpoint(ckpt, model, groups);
  auto loaded = make_model(groups, torch::kBFloat16, 99);
  load_checkpoint(ckpt, loaded);
  const auto params = model->named_parameters();
  for (const auto& item : loaded->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), params[item.key()])) << item.key();
  }
  // The last expert lives on the last rank: save_delta broadcasts it in bf16.
  const std::vector<std::string> names = {
      "layers.1.mlp.gate.weight",
      c10::str("layers.1.mlp.experts.", 2 * world_->size() - 1, ".up_proj.weight")};
  save_delta(delta, model, groups, names, {{"method", "test"}});
  const Delta read = read_delta(delta);
  for (const auto& name : names) {
    ASSERT_TRUE(read.tensors.count(name)) << name;
    EXPECT_EQ(read.tensors.at(name).scalar_type(), torch::kBFloat16) << name;
  }
  const auto last = c10::str("layers.1.mlp.experts.", 2 * world_->size() - 1, ".up_proj.weight");
  if (params.contains(last)) {
    EXPECT_TRUE(torch::equal(read.tensors.at(last), params[last]));
  }
}

// Resident and peak resident set size of this process, bytes (VmRSS, VmHWM).
std::pair<int64_t, int64_t> rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  int64_t rss = 0, peak = 0, kib = 0;
  while (status >> key) {
    if (key == "VmRSS:" && status >> kib) rss = kib * 1024;
    if (key == "VmHWM:" && status >> kib) peak = kib * 1024;
  }
  return {rss, peak};
}

// Returns freed heap pages to the system (so that the next allocations show in the RSS), then
// resets VmHWM to the current RSS.
void reset_peak_rss() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

int64_t model_bytes(const CausalLM& model) {
  int64_t bytes = 0;
  for (const auto& p : model->parameters()) bytes += p.numel() * p.element_size();
  return bytes;
}

// A 0.2 GB (bf16) model: building it and loading bf16 safetensors into it never holds an fp32
// copy; the load stays within the model plus about one tensor.
TEST_F(Bf16Files, HfBf16WeightsLoadStraightIntoBf16) {
  ModelConfig config = test::tiny_moe_config(4);
  config.vocab_size = 32000;
  config.hidden_size = 1024;
  config.intermediate_size = 2048;
  config.moe_intermediate_size = 1024;
  config.num_attention_heads = 8;
  config.num_key_value_heads = 8;
  const int64_t fp32_bytes = [&] {
    int64_t n = 0;
    CausalLM probe(config, nullptr, torch::kBFloat16);
    for (const auto& p : probe->parameters()) n += p.numel();
    return 4 * n;
  }();
  if (world_->rank() == 0) {
    CausalLM source(config, nullptr, torch::kBFloat16);
    std::vector<NamedTensor> tensors;
    for (const auto& item : source->named_parameters()) {
      tensors.push_back(
          {hf_parameter_name("", item.key()), item.value().detach().normal_(0, 0.02)});
    }
    write_safetensors_file(dir_ + "/model.safetensors", tensors);
  }
  world_->barrier();
  reset_peak_rss();
  const int64_t rss_start = rss_bytes().first;
  CausalLM model(config, nullptr, torch::kBFloat16);
  const auto [rss_built, peak_built] = rss_bytes();
  const int64_t bf16_bytes = model_bytes(model);
  EXPECT_EQ(2 * bf16_bytes, fp32_bytes);
  const int64_t largest = 2 * config.vocab_size * config.hidden_size;  // embed_tokens, lm_head
  constexpr int64_t kSlack = 16 << 20;
  EXPECT_LE(peak_built - rss_start, bf16_bytes + kSlack) << "building the bf16 model";

  reset_peak_rss();
  load_hf_checkpoint(SafetensorsCheckpoint(dir_), model, "");
  const int64_t peak_load = rss_bytes().second;
  std::cout << "bf16 model " << bf16_bytes / 1e6 << " MB (fp32 " << fp32_bytes / 1e6
            << " MB): build +" << (peak_built - rss_start) / 1e6 << " MB peak, load peak +"
            << (peak_load - rss_built) / 1e6 << " MB over the built model (largest tensor "
            << largest / 1e6 << " MB)\n";
  EXPECT_LE(peak_load - rss_built, largest + kSlack) << "loading bf16 weights into a bf16 model";
  SafetensorsCheckpoint reread(dir_);
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16);
    const std::string hf = hf_parameter_name("", item.key());
    ASSERT_TRUE(torch::equal(item.value(), reread.file_of(hf).view(hf))) << item.key();
  }
}

}  // namespace
}  // namespace uoe
