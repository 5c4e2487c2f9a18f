// Load-balancing losses (train/balancing_loss.h) against transformers 5.23: mixtral's
// load_balancing_loss_func and switch_transformers' router_z_loss_func on fixed router logits of a
// padded batch (tests/fixtures/balancing, tools/make_balancing_fixtures.py). uoe's f sums to 1 and
// HF's to K, so uoe's Switch loss is HF's / K. At np 1, 2 and 4 every rank takes its block of the
// batch in two micro-batches: the global_batch and sequence scopes must give the loss and the
// gradient (summed over ranks) of one computation on the whole batch.
#include <nlohmann/json.hpp>

#include <fstream>

#include <unistd.h>

#include "config/run_config.h"
#include "test_utils.h"
#include "train/balancing_loss.h"

namespace uoe {
namespace {

const std::string kFixture =
    std::string(UOE_SOURCE_DIR) + "/tests/fixtures/balancing/hf_losses.json";

struct Fixture {
  nlohmann::json json;
  int64_t batch, seq, experts, top_k;
  torch::Tensor mask;                 // [B, S] float
  std::vector<torch::Tensor> logits;  // per layer [T, E]
};

Fixture load_fixture() {
  Fixture f;
  std::ifstream in(kFixture);
  f.json = nlohmann::json::parse(in);
  f.batch = f.json["batch"];
  f.seq = f.json["seq"];
  f.experts = f.json["experts"];
  f.top_k = f.json["top_k"];
  auto rows = f.json["attention_mask"].get<std::vector<std::vector<float>>>();
  f.mask = torch::zeros({f.batch, f.seq});
  for (int64_t b = 0; b < f.batch; ++b) f.mask[b] = torch::tensor(rows[b]);
  for (const auto& layer : f.json["layers"]) {
    auto values = layer["logits"].get<std::vector<std::vector<float>>>();
    auto z = torch::zeros({f.batch * f.seq, f.experts});
    for (size_t t = 0; t < values.size(); ++t) z[t] = torch::tensor(values[t]);
    f.logits.push_back(z);
  }
  return f;
}

torch::Tensor tensor_of(const nlohmann::json& rows) {
  auto values = rows.get<std::vector<std::vector<float>>>();
  auto t = torch::zeros({int64_t(values.size()), int64_t(values[0].size())});
  for (size_t i = 0; i < values.size(); ++i) t[i] = torch::tensor(values[i]);
  return t;
}

// Mixtral routing of logits [T, E]: softmax, top-K.
MoEOutput route(const torch::Tensor& logits, int64_t k) {
  MoEOutput out;
  out.routing.logits = logits;
  out.routing.probs = torch::softmax(logits, -1);
  out.routing.topk_ids = std::get<1>(out.routing.probs.topk(k, -1));
  return out;
}

TEST(BalancingLoss, HandComputed) {
  // 3 tokens, E=2, top-1: ids 0, 0, 1 -> f = [2/3, 1/3]; P = [1.4/3, 1.6/3];
  // loss = 2 * (2/3 * 1.4/3 + 1/3 * 1.6/3) = 8.8/9.
  auto probs = torch::tensor({{0.7f, 0.3f}, {0.6f, 0.4f}, {0.1f, 0.9f}}).view({1, 3, 2});
  auto ids = torch::tensor({0, 0, 1}, torch::kInt64).view({1, 3, 1});
  auto valid = torch::ones({1, 3});
  EXPECT_NEAR(switch_loss_per_group(probs, ids, valid).item<double>(), 8.8 / 9.0, 1e-6);
  // The third token padded: f = [1, 0], P = [0.65, 0.35] -> 2 * 0.65.
  valid[0][2] = 0.0;
  EXPECT_NEAR(switch_loss_per_group(probs, ids, valid).item<double>(), 1.3, 1e-6);
  // Global shares f = [0.5, 0.5] of the first two tokens: 2 * 0.5 * (1.3 + 0.7) = 2 (token sum).
  EXPECT_NEAR(
      switch_loss_token_sum(probs.view({3, 2}), valid.view({3}), torch::tensor({0.5f, 0.5f}))
          .item<double>(),
      2.0, 1e-6);
  // z-loss: logsumexp of [0, 0] is log 2.
  EXPECT_NEAR(z_loss_token_sum(torch::zeros({2, 2}), torch::ones({2})).item<double>(),
              2.0 * std::log(2.0) * std::log(2.0), 1e-6);
}

TEST(BalancingLoss, RouterBiasUpdateHandComputed) {
  // mean load 3: overloaded experts go down by the rate, underloaded up, the mean one stays.
  auto update = router_bias_update(torch::tensor({5.0, 1.0, 3.0, 3.0}, torch::kFloat64), 0.01);
  test::expect_close(update, torch::tensor({-0.01, 0.01, 0.0, 0.0}, torch::kFloat64), 1e-12,
                     "bias update");
}

TEST(BalancingLoss, MatchesTransformersPerLayerAndPerSequence) {
  const Fixture f = load_fixture();
  const int64_t tokens = f.batch * f.seq;
  for (size_t l = 0; l < f.logits.size(); ++l) {
    const auto& ref = f.json["layers"][l];
    auto leaf = f.logits[l].clone().requires_grad_(true);
    auto out = route(leaf, f.top_k);
    const auto& r = out.routing;
    auto whole = [&](const torch::Tensor& valid) {
      return switch_loss_per_group(r.probs.view({1, tokens, f.experts}),
                                   r.topk_ids.view({1, tokens, f.top_k}), valid.view({1, tokens}));
    };
    EXPECT_NEAR(whole(torch::ones({f.batch, f.seq})).item<double>() * f.top_k,
                ref["hf_aux"].get<double>(), 1e-5);
    auto masked = whole(f.mask).sum();
    EXPECT_NEAR(masked.item<double>() * f.top_k, ref["hf_aux_masked"].get<double>(), 1e-5);
    masked.backward();
    test::expect_close(leaf.grad() * double(f.top_k), tensor_of(ref["hf_aux_masked_grad"]), 1e-5,
                       "d aux / d logits vs transformers");
    auto per_sequence = switch_loss_per_group(r.probs.view({f.batch, f.seq, f.experts}),
                                              r.topk_ids.view({f.batch, f.seq, f.top_k}), f.mask);
    test::expect_close(per_sequence.detach() * double(f.top_k),
                       torch::tensor(ref["hf_aux_per_sequence"].get<std::vector<float>>()), 1e-5,
                       "per-sequence aux vs transformers");
    EXPECT_NEAR(z_loss_token_sum(f.logits[l], torch::ones({tokens})).item<double>() / tokens,
                ref["hf_z"].get<double>(), 1e-4);
    EXPECT_NEAR(z_loss_token_sum(f.logits[l], f.mask).item<double>() / f.mask.sum().item<double>(),
                ref["z_masked"].get<double>(), 1e-4);
  }
}

// Rank r's block of the batch as two micro-batches; the step's loss and gradient of the leaf
// logits (summed over ranks) in `scope`.
struct StepResult {
  double aux = 0.0, z = 0.0;
  std::vector<torch::Tensor> grads;  // per layer [T, E]
};

StepResult distributed_step(const Fixture& f, AuxLossScope scope, double z_coef) {
  auto world = test::world();
  const int64_t per_rank = f.batch / world->size(), micro = per_rank / 2;
  LoadBalancingOptions options;
  options.aux_coef = 1.0;
  options.z_coef = z_coef;
  options.scope = scope;
  options.num_experts = f.experts;
  options.top_k = f.top_k;
  LoadBalancingLoss balance(options, world);
  balance.start_step(2, f.mask.sum().item<double>(), (f.mask.sum(1) > 0).sum().item<double>());
  std::vector<torch::Tensor> leaves;
  for (const auto& z : f.logits) leaves.push_back(z.clone().requires_grad_(true));
  auto pass = [&](int m) {
    const int64_t first = world->rank() * per_rank + m * micro;
    std::map<int64_t, MoEOutput> moe;
    for (size_t l = 0; l < leaves.size(); ++l) {
      moe.emplace(int64_t(l), route(leaves[l].narrow(0, first * f.seq, micro * f.seq), f.top_k));
    }
    return std::make_pair(moe, f.mask.narrow(0, first, micro));
  };
  if (balance.needs_counting_pass()) {
    for (int m = 0; m < 2; ++m) {
      auto [moe, valid] = pass(m);
      balance.add_counts(moe, valid);
    }
    balance.reduce_counts();
  }
  for (int m = 0; m < 2; ++m) {
    auto [moe, valid] = pass(m);
    balance.loss(moe, valid).backward();
  }
  auto parts = torch::stack({balance.aux_part(), balance.z_part()});  // [2] fp64
  world->all_reduce(parts, ReduceOp::kSum);
  StepResult result{parts[0].item<double>(), parts[1].item<double>(), {}};
  for (auto& leaf : leaves) {
    auto grad = leaf.grad().clone();
    world->all_reduce(grad, ReduceOp::kSum);
    result.grads.push_back(grad);
  }
  return result;
}

TEST(BalancingLoss, GlobalBatchEqualsOneRankOnTheWholeBatch) {
  const Fixture f = load_fixture();
  const auto step = distributed_step(f, AuxLossScope::kGlobalBatch, 0.0);
  double expected = 0.0;
  for (const auto& layer : f.json["layers"]) expected += layer["hf_aux_masked"].get<double>();
  EXPECT_NEAR(step.aux * f.top_k, expected, 1e-5);
  for (size_t l = 0; l < f.logits.size(); ++l) {
    test::expect_close(step.grads[l] * double(f.top_k),
                       tensor_of(f.json["layers"][l]["hf_aux_masked_grad"]), 1e-5,
                       "global_batch gradient vs transformers on the whole batch");
  }
}

TEST(BalancingLoss, SequenceScopeAndZLossAreLayoutFree) {
  const Fixture f = load_fixture();
  const auto step = distributed_step(f, AuxLossScope::kSequence, 0.5);
  const double sequences = (f.mask.sum(1) > 0).sum().item<double>();
  double aux = 0.0, z = 0.0;
  for (const auto& layer : f.json["layers"]) {
    for (double v : layer["hf_aux_per_sequence"].get<std::vector<double>>()) aux += v;
    z += layer["z_masked"].get<double>();
  }
  EXPECT_NEAR(step.aux * f.top_k, aux / sequences, 1e-5);
  EXPECT_NEAR(step.z, z, 1e-4);
}

TEST(BalancingLoss, MicroBatchOnOneRankIsTransformers) {
  const Fixture f = load_fixture();
  LoadBalancingOptions options;
  options.aux_coef = 0.01;
  options.num_experts = f.experts;
  options.top_k = f.top_k;
  // A world of one rank per process: each rank computes alone, as HF would.
  auto self = std::make_shared<MpiCommunicator>(MPI_COMM_SELF);
  LoadBalancingLoss balance(options, self);
  balance.start_step(1, f.mask.sum().item<double>(), 0);
  std::map<int64_t, MoEOutput> moe;
  double expected = 0.0;
  for (size_t l = 0; l < f.logits.size(); ++l) {
    moe.emplace(int64_t(l), route(f.logits[l], f.top_k));
    expected += f.json["layers"][l]["hf_aux_masked"].get<double>();
  }
  EXPECT_NEAR(balance.loss(moe, f.mask).item<double>(), 0.01 * expected / f.top_k, 1e-7);
}

TEST(BalancingLoss, ConfigErrorsNameTheKey) {
  // One file per process: the MPI ranks of this test share TempDir().
  const std::string path =
      ::testing::TempDir() + "uoe_balancing_config_" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << "output_dir: /tmp/unused\n";
  test::expect_input_error([&] { load_run_config(path, {"router_aux_loss_coef=-0.1"}); },
                           {"router_aux_loss_coef"});
  test::expect_input_error([&] { load_run_config(path, {"router_z_loss_coef=-1"}); },
                           {"router_z_loss_coef"});
  test::expect_input_error([&] { load_run_config(path, {"moe_aux_loss_scope=batch"}); },
                           {"moe_aux_loss_scope", "global_batch"});
  test::expect_input_error([&] { load_run_config(path, {"moe_router_bias_update_rate=-1"}); },
                           {"moe_router_bias_update_rate"});
  EXPECT_EQ(
      std::string(to_string(
          load_run_config(path, {"moe_aux_loss_scope=sequence"}).training.moe_aux_loss_scope)),
      "sequence");
}

}  // namespace
}  // namespace uoe
