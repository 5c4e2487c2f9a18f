// Activation recomputation (model/recompute.h): with gradient_checkpointing on, losses and the
// gradients of every parameter equal those with it off, bitwise (the recomputation repeats the
// same operations on the same values), at every EP layout the world allows (EP=1 with DP, EP over
// all ranks), through each transport (local, node-shared memory, all-to-all; shared experts
// overlapped with the dispatch or not), for
//   - pretraining: NLL + Switch aux loss + router z-loss (train/balancing_loss.h), everything
//     trainable, two forward passes before one backward;
//   - a SEUF objective: one expert of the last layer + that layer's router trainable, gradient
//     ascent on the NLL + router anchor loss; frozen parameters must get no gradient.
#include "model/causal_lm.h"
#include "parallel/grad_sync.h"
#include "parallel/process_groups.h"
#include "test_models.h"
#include "test_utils.h"
#include "train/balancing_loss.h"
#include "unlearn/objectives.h"
#include "unlearn/selection.h"

namespace uoe {
namespace {

constexpr int64_t kSeqPerRank = 2, kSeqLen = 10, kTargetLayer = 2, kTargetExpert = 1;

enum class Objective { kPretrain, kSeuf };

struct Layout {
  int ep = 1;
  bool shared_memory = true;  // node-shared memory when EP > 1 (else the all-to-all exchange)
  bool overlap = false;       // shared experts while the dispatch is in flight
};

struct StepResult {
  double loss = 0.0;                           // this rank's loss
  std::map<std::string, torch::Tensor> grads;  // after gradient sync; undefined: no gradient
};

ModelConfig recompute_config(int64_t num_experts) {
  auto config = test::tiny_moe_config(num_experts);
  config.shared_expert_intermediate_size = 16;
  config.shared_expert_gate = true;
  return config;
}

StepResult train_step(Objective objective, const Layout& layout, bool recompute) {
  auto world = test::world();
  const int n = world->size();
  const auto config = recompute_config(2 * n);
  auto groups = ProcessGroups::create(world, layout.ep);
  CausalLM model(config, groups.ep());
  model->initialize(5);
  DispatchOptions dispatch;
  dispatch.shared_memory = layout.shared_memory;
  dispatch.overlap_shared_experts = layout.overlap;
  model->set_dispatch_options(dispatch);
  model->set_gradient_checkpointing(recompute);
  GradientGroups trainable{model->dense_parameters(), model->expert_parameters()};
  if (objective == Objective::kPretrain) {
    model->set_all_trainable();
  } else {
    Selection selection;
    selection.experts = {ExpertTarget{kTargetLayer, kTargetExpert}};
    const TrainableSet set = apply_selection(model, selection);
    trainable = {set.dense, set.expert};
  }

  const int64_t passes = objective == Objective::kPretrain ? 2 : 1;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto ids = torch::randint(40, {passes, kSeqPerRank * n, kSeqLen + 1}, gen, torch::kInt64);
  const double global_tokens = double(passes * kSeqPerRank * n * kSeqLen);
  LoadBalancingOptions balancing;
  balancing.aux_coef = 0.01;
  balancing.z_coef = 0.001;
  balancing.num_experts = config.num_experts;
  balancing.top_k = config.num_experts_per_tok;
  LoadBalancingLoss balance(balancing, world);
  balance.start_step(passes, global_tokens, double(passes * kSeqPerRank * n));

  torch::Tensor loss = torch::zeros({});
  for (int64_t p = 0; p < passes; ++p) {
    auto mine = ids[p].narrow(0, groups.rank() * kSeqPerRank, kSeqPerRank);
    auto inputs = mine.narrow(1, 0, kSeqLen), labels = mine.narrow(1, 1, kSeqLen);
    auto valid = torch::ones({kSeqPerRank, kSeqLen});
    auto out = model->forward(inputs);
    auto nll = token_nll_sum(out.logits, labels, valid) / global_tokens;
    if (objective == Objective::kPretrain) {
      loss = loss + nll + balance.loss(out.moe, valid);
    } else {
      loss = loss - nll +
             anchor_loss_sum(out.moe.at(kTargetLayer).routing.probs, valid.reshape({-1}),
                             kTargetExpert) /
                 global_tokens;
    }
  }
  loss.backward();
  sync_gradients(trainable, groups);

  StepResult result;
  result.loss = loss.item<double>();
  for (const auto& item : model->named_parameters()) result.grads[item.key()] = item.value().grad();
  return result;
}

std::vector<Layout> layouts() {
  const int n = test::world()->size();
  std::vector<Layout> all{{1, true, false}};
  if (n > 1) {
    all.push_back({n, true, false});
    all.push_back({n, true, true});
    all.push_back({n, false, false});
    all.push_back({n, false, true});
  }
  return all;
}

void expect_same_step(Objective objective) {
  for (const auto& layout : layouts()) {
    const std::string tag = "ep=" + std::to_string(layout.ep) +
                            (layout.shared_memory ? " shared_memory" : " all_to_all") +
                            (layout.overlap ? " overlap" : "");
    const StepResult plain = train_step(objective, layout, false);
    const StepResult recomputed = train_step(objective, layout, true);
    EXPECT_EQ(recomputed.loss, plain.loss) << tag;
    int64_t with_grad = 0;
    for (const auto& [name, want] : plain.grads) {
      const auto& got = recomputed.grads.at(name);
      ASSERT_EQ(got.defined(), want.defined()) << tag << " " << name;
      if (!want.defined()) continue;
      ++with_grad;
      EXPECT_TRUE(torch::equal(got, want))
          << tag << " " << name << ": max difference " << (got - want).abs().max().item<double>();
    }
    if (objective == Objective::kPretrain) {
      EXPECT_EQ(with_grad, int64_t(plain.grads.size())) << tag;
    } else {
      // Only the target layer's router and its expert (on its owner) get gradients.
      for (const auto& [name, grad] : recomputed.grads) {
        if (!grad.defined()) continue;
        const std::string layer = "layers." + std::to_string(kTargetLayer) + ".mlp.";
        const bool expected =
            name == layer + "gate.weight" ||
            name.rfind(layer + "experts." + std::to_string(kTargetExpert) + ".", 0) == 0;
        EXPECT_TRUE(expected) << tag << ": frozen " << name << " got a gradient";
      }
      EXPECT_GE(with_grad, 1) << tag;
    }
  }
}

TEST(Recompute, PretrainLossWithBalancingLossesIsUnchanged) {
  expect_same_step(Objective::kPretrain);
}

TEST(Recompute, SeufObjectiveIsUnchanged) { expect_same_step(Objective::kSeuf); }

TEST(Recompute, FreesLayerActivations) {
  // Without grad mode nothing is recomputed; with it, the layers' outputs hang on one
  // RecomputeBackward node each.
  auto groups = ProcessGroups::create(test::world(), 1);
  CausalLM model(recompute_config(4), groups.ep());
  model->initialize(1);
  model->set_all_trainable();
  model->set_gradient_checkpointing(true);
  auto ids = torch::randint(40, {2, kSeqLen}, torch::kInt64);
  auto out = model->forward(ids);
  ASSERT_TRUE(out.moe.at(1).routing.probs.grad_fn() != nullptr);
  EXPECT_EQ(out.moe.at(1).routing.probs.grad_fn()->name(), "uoe::RecomputeBackward");
  EXPECT_EQ(out.moe.at(1).routing.logits.grad_fn()->name(), "uoe::RecomputeBackward");
  {
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->forward(ids).moe.at(1).routing.probs.grad_fn(), nullptr);
  }
}

}  // namespace
}  // namespace uoe
