// `uoe unlearn`'s training loop: only the trainable set changes (bitwise), the optimizer holds
// state for exactly the trainable elements, every method runs under every layout without hanging,
// and NPO's cached reference equals a recomputation with a frozen copy.
#include <torch/csrc/autograd/functions/accumulate_grad.h>

#include <set>

#include "eval/evaluation.h"
#include "parallel/process_groups.h"
#include "test_utils.h"
#include "unlearn/objectives.h"
#include "unlearn/selection.h"
#include "unlearn/unlearner.h"
#include "unlearn_fixtures.h"

namespace uoe {
namespace {

UnlearnRunOptions unlearn_config(const std::string& method, double anchor) {
  UnlearnRunOptions c;
  c.training.output_dir = testing::TempDir();
  c.training.max_steps = 3;
  c.training.logging_steps = 10;
  c.training.per_device_train_batch_size = 2;
  c.training.learning_rate = 1e-2;
  c.training.lr_scheduler_type = LrSchedulerType::kConstant;
  c.unlearn.method = *enum_value(kUnlearnMethods, method);
  c.unlearn.anchor_weight = anchor;
  c.unlearn.selection.mode = SelectionMode::kFixed;
  c.unlearn.selection.layer = 2;
  return c;
}

std::map<std::string, torch::Tensor> snapshot(CausalLM& model) {
  std::map<std::string, torch::Tensor> copy;
  for (const auto& item : model->named_parameters())
    copy[item.key()] = item.value().detach().clone();
  return copy;
}

TEST(Unlearner, OnlyTheTrainableSetChangesForEveryMethod) {
  auto world = test::world();
  const int n = world->size();
  auto groups = ProcessGroups::create(world, n);
  const auto config = test::tiny_moe_config(2 * n);
  auto forget = test::random_qa_dataset(7, config.vocab_size, 1);
  auto retain = test::random_qa_dataset(9, config.vocab_size, 2);
  const int64_t target_expert = 2 * n - 1;  // owned by the last rank of the EP group
  for (const std::string method : {"ga", "gdiff", "npo", "simnpo", "rmu"}) {
    for (double anchor : {0.0, 1.0}) {
      const std::string tag = method + " anchor=" + std::to_string(anchor);
      auto run = unlearn_config(method, anchor);
      run.unlearn.selection.experts = {target_expert};
      CausalLM model(config, groups.ep());
      model->initialize(5);
      auto before = snapshot(model);
      Selection selection = select_targets(run.unlearn.selection, nullptr, config, 1);
      TrainableSet trainable = apply_selection(model, selection);
      auto summary = run_unlearning(run, groups, model, selection, trainable, {&forget, &retain},
                                    /*hook_layer=*/2);
      const std::string router = "layers.2.mlp.gate.weight";
      const std::string expert_prefix =
          "layers.2.mlp.experts." + std::to_string(target_expert) + ".";
      int64_t local_trainable = 0;
      for (const auto& item : model->named_parameters()) {
        const auto& name = item.key();
        const bool trained = name == router || name.rfind(expert_prefix, 0) == 0;
        if (trained) local_trainable += item.value().numel();
        if (trained) {
          EXPECT_FALSE(torch::equal(item.value(), before[name]))
              << tag << ": " << name << " unchanged";
        } else {
          EXPECT_TRUE(torch::equal(item.value(), before[name]))
              << tag << ": " << name << " changed";
          EXPECT_FALSE(item.value().grad().defined())
              << tag << ": frozen " << name << " has a grad";
        }
      }
      EXPECT_EQ(summary["trainable_elements_per_rank"].get<int64_t>(), local_trainable) << tag;
      EXPECT_EQ(summary["optimizer_state_bytes_per_rank"].get<int64_t>(),
                2 * int64_t(sizeof(float)) * local_trainable)
          << tag;
      EXPECT_EQ(trainable.num_elements, config.num_experts * config.hidden_size +
                                            3 * config.hidden_size * config.moe_intermediate_size)
          << tag;
    }
  }
}

TEST(Unlearner, NpoCachedReferenceEqualsFrozenCopy) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const auto config = test::tiny_moe_config(2 * world->size());
  auto forget = test::random_qa_dataset(9, config.vocab_size, 4);
  CausalLM model(config, groups.ep());
  model->initialize(8);
  auto cached = answer_log_probs(model, forget, groups, /*batch_size=*/2);
  // Unlearn with NPO (which uses the cache), then recompute the reference with a frozen copy.
  auto run = unlearn_config("npo", 1.0);
  run.unlearn.retain_weight = 0.0;
  run.unlearn.selection.experts = {0};
  Selection selection = select_targets(run.unlearn.selection, nullptr, config, 1);
  TrainableSet trainable = apply_selection(model, selection);
  run_unlearning(run, groups, model, selection, trainable, {&forget, nullptr}, 2);
  CausalLM frozen_copy(config, groups.ep());
  frozen_copy->initialize(8);
  auto recomputed = answer_log_probs(frozen_copy, forget, groups, /*batch_size=*/4);
  test::expect_close(cached, recomputed, 1e-6, "cached vs frozen-copy reference");
  // The live model moved away: using it as the reference (the published code's mistake) differs.
  auto live = answer_log_probs(model, forget, groups, 4);
  EXPECT_GT((live - cached).abs().max().item<double>(), 1e-4);
  for (int64_t i = 0; i < forget.size(); ++i) EXPECT_LT(cached[i].item<double>(), 0.0);
}

}  // namespace
}  // namespace uoe

namespace uoe {
namespace {

// Gradient accumulation: 2 micro-batches of 1 sequence per rank give the same global batch, and so
// the same trained tensors, as 1 micro-batch of 2 (the loss is normalised by the step's global
// token count either way).
TEST(Unlearner, GradientAccumulationMatchesOneLargerBatch) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const auto config = test::tiny_moe_config(2 * world->size());
  auto forget = test::random_qa_dataset(16, config.vocab_size, 12);
  auto retain = test::random_qa_dataset(16, config.vocab_size, 13);
  std::vector<std::map<std::string, torch::Tensor>> results;
  for (int64_t accumulation : {1, 2}) {
    auto run = unlearn_config("gdiff", 1.0);
    run.training.lr_scheduler_type = LrSchedulerType::kCosine;
    run.training.warmup_steps = 1;
    run.training.gradient_accumulation_steps = accumulation;
    run.training.per_device_train_batch_size = 2 / accumulation;
    run.unlearn.selection.experts = {0};
    CausalLM model(config, groups.ep());
    model->initialize(3);
    Selection selection = select_targets(run.unlearn.selection, nullptr, config, 1);
    TrainableSet trainable = apply_selection(model, selection);
    run_unlearning(run, groups, model, selection, trainable, {&forget, &retain}, 2);
    results.push_back(snapshot(model));
  }
  for (const auto& [name, tensor] : results[0]) {
    test::expect_close(results[1][name], tensor, 1e-5, "accumulation 2 vs 1: " + name);
  }
}

}  // namespace
}  // namespace uoe

namespace uoe {
namespace {

// Leaf tensors whose gradient backward from `root` would accumulate (AccumulateGrad nodes).
std::set<const void*> leaves_reached(const torch::Tensor& root) {
  std::set<const void*> leaves;
  std::set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack = {root.grad_fn().get()};
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (auto* leaf = dynamic_cast<torch::autograd::AccumulateGrad*>(node))
      leaves.insert(leaf->variable.unsafeGetTensorImpl());
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return leaves;
}

// Frozen weights cost no weight gradients: in a SEUF step (expert 0 of layer 1 and that router;
// layer 2, the norm and the LM head above are frozen) backward reaches only the trainable tensors
// (no weight-gradient GEMM of a frozen tensor is in the graph), leaves every frozen tensor without
// a gradient, and still carries the input gradient through the frozen layers: the trainable
// tensors' gradients equal those of the same step with every tensor trainable.
TEST(Unlearner, FrozenTensorsGetNoGradientButPassInputGradients) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const auto config = test::tiny_moe_config(2 * world->size());
  const auto ids =
      torch::randint(config.vocab_size, {2, 9}, torch::Generator(at::detail::createCPUGenerator(7)),
                     torch::kInt64);  // [B, S + 1]
  const auto input = ids.narrow(1, 0, 8), labels = ids.narrow(1, 1, 8);
  const auto mask = torch::ones({2, 8});
  auto loss_of = [&](CausalLM& model) {
    return token_nll_sum(model->forward(input).logits, labels, mask);
  };
  SelectionConfig seuf_selection;
  seuf_selection.mode = SelectionMode::kFixed;
  seuf_selection.layer = 1;
  seuf_selection.experts = {0};
  SelectionConfig full_selection;
  full_selection.mode = SelectionMode::kFull;

  CausalLM seuf(config, groups.ep()), full(config, groups.ep());
  seuf->initialize(5);
  full->initialize(5);
  apply_selection(seuf, select_targets(seuf_selection, nullptr, config, 1));
  apply_selection(full, select_targets(full_selection, nullptr, config, 1));
  const auto loss = loss_of(seuf);
  const auto reached = leaves_reached(loss);
  loss.backward();
  loss_of(full).backward();

  const auto full_params = full->named_parameters();
  int64_t trainable = 0;
  for (const auto& item : seuf->named_parameters()) {
    const auto& name = item.key();
    const auto& p = item.value();
    const bool trained = name == "layers.1.mlp.gate.weight" ||
                         (groups.ep_rank() == 0 && name.rfind("layers.1.mlp.experts.0.", 0) == 0);
    EXPECT_EQ(p.requires_grad(), trained) << name;
    EXPECT_EQ(reached.count(p.unsafeGetTensorImpl()), trained ? 1u : 0u)
        << name << (trained ? " is not reached by backward" : " (frozen) is reached by backward");
    if (!trained) {
      EXPECT_FALSE(p.grad().defined()) << "frozen " << name << " got a gradient";
      continue;
    }
    ++trainable;
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().max().item<double>(), 0.0) << name;
    test::expect_close(p.grad(), full_params[name].grad(), 1e-5, name + " SEUF vs full gradient");
  }
  EXPECT_EQ(trainable, groups.ep_rank() == 0 ? 4 : 1);  // router + gate, up, down projections
}

}  // namespace
}  // namespace uoe
