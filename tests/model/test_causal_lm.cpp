// The whole model under expert parallelism: EP=N (with DP) gives the same logits and gradients as
// one process holding every expert, and the layout-independent initialisation.
#include "model/causal_lm.h"
#include "parallel/grad_sync.h"
#include "parallel/process_groups.h"
#include "test_models.h"
#include "test_utils.h"

namespace uoe {
namespace {

constexpr int64_t kSeqPerRank = 2, kSeqLen = 10;

TEST(CausalLM, ForwardShapesAndRouting) {
  CausalLM model(test::tiny_moe_config(4), nullptr);
  model->initialize(1);
  auto ids = torch::randint(40, {2, kSeqLen}, torch::kInt64);
  auto out = model->forward(ids);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, kSeqLen, 40}));
  ASSERT_EQ(out.moe.size(), 2u);  // layers 1 and 2
  EXPECT_EQ(out.moe.begin()->first, 1);
  EXPECT_EQ(out.moe.at(1).routing.probs.sizes(), (std::vector<int64_t>{2 * kSeqLen, 4}));
  EXPECT_EQ(out.moe.at(2).tokens_per_expert.sum().item<int64_t>(), 2 * kSeqLen * 2);
}

TEST(CausalLM, TiedEmbeddingsHaveNoLmHead) {
  auto config = test::tiny_moe_config(4);
  config.tie_word_embeddings = true;
  CausalLM model(config, nullptr);
  for (const auto& item : model->named_parameters()) EXPECT_NE(item.key(), "lm_head.weight");
}

TEST(CausalLM, ExpertParityAcrossLayouts) {
  auto world = test::world();
  const int n = world->size();
  const int64_t global_seqs = kSeqPerRank * n;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto ids = torch::randint(40, {global_seqs, kSeqLen + 1}, gen, torch::kInt64);
  auto inputs = ids.narrow(1, 0, kSeqLen), labels = ids.narrow(1, 1, kSeqLen);
  const double global_tokens = double(global_seqs * kSeqLen);
  for (int ep = 1; ep <= n; ++ep) {
    if (n % ep != 0) continue;
    const auto config = test::tiny_moe_config(2 * n);
    CausalLM reference(config, nullptr);
    reference->initialize(5);
    auto ref_out = reference->forward(inputs);
    (token_nll_sum(ref_out.logits, labels, torch::ones_like(labels)) / global_tokens).backward();

    auto groups = ProcessGroups::create(world, ep);
    CausalLM model(config, groups.ep());
    model->initialize(5);
    model->set_all_trainable();
    const int64_t first = groups.rank() * kSeqPerRank;
    auto out = model->forward(inputs.narrow(0, first, kSeqPerRank));
    (token_nll_sum(out.logits, labels.narrow(0, first, kSeqPerRank),
                   torch::ones({kSeqPerRank, kSeqLen})) /
     global_tokens)
        .backward();
    sync_gradients({model->dense_parameters(), model->expert_parameters()}, groups);

    const std::string tag = "ep=" + std::to_string(ep);
    test::expect_close(out.logits, ref_out.logits.narrow(0, first, kSeqPerRank), 1e-5,
                       tag + " logits");
    auto ref_params = reference->named_parameters();
    for (const auto& item : model->named_parameters()) {
      const auto& want = ref_params[item.key()];
      if (!want.grad().defined()) {
        EXPECT_EQ(item.value().grad().abs().max().item<double>(), 0.0) << tag << " " << item.key();
        continue;
      }
      test::expect_close(item.value().grad(), want.grad(), 1e-5, tag + " " + item.key());
    }
  }
}

TEST(CausalLM, InitialisationDoesNotDependOnLayout) {
  auto world = test::world();
  auto groups = ProcessGroups::create(world, world->size());
  const auto config = test::tiny_moe_config(2 * world->size());
  CausalLM reference(config, nullptr);
  reference->initialize(9);
  CausalLM model(config, groups.ep());
  model->initialize(9);
  auto ref_params = reference->named_parameters();
  for (const auto& item : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), ref_params[item.key()])) << item.key();
  }
}

TEST(ModelConfig, ValidationNamesTheKey) {
  auto config = test::tiny_moe_config(4);
  config.num_key_value_heads = 3;
  try {
    config.validate("model");
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model.num_key_value_heads"), std::string::npos);
  }
}

}  // namespace
}  // namespace uoe
