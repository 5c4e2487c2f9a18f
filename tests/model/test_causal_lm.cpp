// The whole model under expert parallelism: EP=N (with DP) gives the same logits and gradients as
// one process holding every expert, and the layout-independent initialisation. On a GPU (skipped
// without one): the same model on CUDA against the CPU, alone and under EP over MPI (CUDA tensors
// staged through the host, so EP > 1 runs with every rank on one GPU).
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

// The model on `device` at every EP size that divides the world (MPI groups) against one CPU
// process holding every expert: logits and gradients within `tolerance`.
void check_expert_parity(const torch::Device& device, double tolerance) {
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
    CausalLM model(config, groups.ep(), torch::kFloat32, device);
    model->initialize(5);
    model->set_all_trainable();
    const int64_t first = groups.rank() * kSeqPerRank;
    auto out = model->forward(inputs.narrow(0, first, kSeqPerRank).to(device));
    (token_nll_sum(out.logits, labels.narrow(0, first, kSeqPerRank).to(device),
                   torch::ones({kSeqPerRank, kSeqLen}, device)) /
     global_tokens)
        .backward();
    sync_gradients({model->dense_parameters(), model->expert_parameters()}, groups);

    const std::string tag = c10::str("ep=", ep, " on ", device);
    EXPECT_EQ(out.logits.device(), device) << tag;
    test::expect_close(out.logits.cpu(), ref_out.logits.narrow(0, first, kSeqPerRank), tolerance,
                       tag + " logits");
    auto ref_params = reference->named_parameters();
    for (const auto& item : model->named_parameters()) {
      const auto& want = ref_params[item.key()];
      const auto grad = item.value().grad().cpu();
      if (!want.grad().defined()) {
        EXPECT_EQ(grad.abs().max().item<double>(), 0.0) << tag << " " << item.key();
        continue;
      }
      test::expect_close(grad, want.grad(), tolerance, tag + " " + item.key());
    }
  }
}

TEST(CausalLM, ExpertParityAcrossLayouts) { check_expert_parity(torch::kCPU, 1e-5); }

// EP 1 is the CUDA vs CPU parity of the tiny model's forward and backward (fp32; matmuls without
// TF32, LibTorch's default); EP 2 and 4 share one GPU when there is one, over MPI host staging.
TEST(CausalLM, CudaForwardAndBackwardMatchTheCpuAtEveryEpSizeOverMpi) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: CUDA vs CPU parity untested";
  check_expert_parity(test::cuda_device(), 1e-4);
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

// Both attentions, every optional block: biases, q/k norms (per head and whole), latent norms,
// shared experts and their gate, tied embeddings, the DeepSeek-V3 router with its correction bias.
std::vector<ModelConfig> every_block_configs() {
  auto gqa = test::tiny_moe_config(4);
  gqa.attention_bias = true;
  gqa.qk_norm = "head";
  gqa.shared_expert_intermediate_size = 8;
  gqa.shared_expert_gate = true;
  auto mla = test::tiny_moe_config(4);
  mla.kv_lora_rank = 8;
  mla.q_lora_rank = 12;
  mla.qk_nope_head_dim = 4;
  mla.qk_rope_head_dim = 4;
  mla.v_head_dim = 4;
  mla.router_type = "deepseek_v3";
  auto variants = test::tiny_moe_config(4);
  variants.attention_output_bias = true;
  variants.qk_norm = "full";
  variants.tie_word_embeddings = true;
  auto mla_without_q_lora = mla;
  mla_without_q_lora.q_lora_rank = 0;
  mla_without_q_lora.attention_bias = true;
  return {gqa, mla, variants, mla_without_q_lora};
}

// Parameters are made in the model's dtype with no values (NaN) until initialize() sets every
// one of them: nothing the constructor drew could pass for a weight.
TEST(CausalLM, ParametersHaveNoValuesUntilInitialised) {
  for (const auto& config : every_block_configs()) {
    CausalLM model(config, nullptr, torch::kBFloat16);
    for (const auto& item : model->named_parameters()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
      EXPECT_TRUE(item.value().isnan().all().item<bool>()) << item.key();
    }
    // Buffers have their values from the start: the correction bias is fp32 zeros.
    for (const auto& item : model->named_buffers()) {
      EXPECT_EQ(item.value().scalar_type(), torch::kFloat32) << item.key();
      EXPECT_TRUE(item.value().eq(0).all().item<bool>()) << item.key();
    }
    model->initialize(3);
    for (const auto& item : model->named_parameters()) {
      EXPECT_TRUE(item.value().isfinite().all().item<bool>()) << item.key();
    }
  }
}

// Built on the GPU, the model's tensors never pass through the host; its initialisation is the
// CPU's, value for value.
TEST(CausalLM, CudaModelIsBuiltOnTheDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: building on it untested";
  for (const auto& config : every_block_configs()) {
    CausalLM reference(config, nullptr, torch::kBFloat16);
    reference->initialize(4);
    CausalLM model(config, nullptr, torch::kBFloat16, test::cuda_device());
    for (const auto& item : model->named_parameters()) {
      EXPECT_TRUE(item.value().is_cuda()) << item.key();
    }
    for (const auto& item : model->named_buffers()) {
      EXPECT_TRUE(item.value().is_cuda()) << item.key();
    }
    model->initialize(4);
    auto ref_params = reference->named_parameters();
    for (const auto& item : model->named_parameters()) {
      EXPECT_TRUE(torch::equal(item.value().cpu(), ref_params[item.key()])) << item.key();
    }
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
