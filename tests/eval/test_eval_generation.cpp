// Greedy generation with the KV cache (eval/generation.h) against recomputing the whole padded
// prefix for every token (the generation before the cache, kept here as the reference), on the HF
// parity fixtures of every attention kind: MHA, GQA, per-head q/k norm with YaRN, MLA with and
// without q_lora_rank and with YaRN. Prompts of different lengths share a batch; EP=1 and, on 2
// ranks, EP=2, also with a rank that has no prompt; with and without a stop token. The cached
// logits must equal the full forward's to fp32 tolerance, and the tokens exactly.
#include <algorithm>

#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/hf_config.h"
#include "eval/generation.h"
#include "formats/safetensors.h"
#include "formats/safetensors_checkpoint.h"
#include "parallel/process_groups.h"
#include "test_utils.h"

namespace uoe {
namespace {

constexpr double kLogitTolerance = 1e-4;  // max |diff|, fp32
constexpr int64_t kSteps = 10;

const std::string kFixtures = std::string(UOE_SOURCE_DIR) + "/tests/fixtures/";
const std::vector<std::string> kNames = {"hf5/mixtral_fp32",
                                         "hf5/olmoe_fp32",
                                         "hf5/qwen3_moe_yarn_fp32",
                                         "hf5/deepseek_v2_grouped_fp32",
                                         "hf5/deepseek_v3_negative_bias_fp32",
                                         "hf5/deepseek_v2",
                                         "hf/qwen2_moe"};

// The generation before the KV cache: every step recomputes the right-padded batch up to the
// longest row and takes each row's logits at its own last position.
std::vector<std::vector<int64_t>> full_recompute_greedy(
    CausalLM& model, const std::vector<std::vector<int64_t>>& prompts, int64_t steps,
    const ProcessGroups& groups, int64_t stop_token) {
  const int64_t rows = std::max<int64_t>(1, prompts.size());
  int64_t longest = 1;
  for (const auto& p : prompts) longest = std::max<int64_t>(longest, p.size());
  auto ids = torch::zeros({rows, longest + steps}, torch::kInt64);
  std::vector<int64_t> cursor(rows, 1);
  for (size_t b = 0; b < prompts.size(); ++b) {
    for (size_t i = 0; i < prompts[b].size(); ++i) ids[b][i] = prompts[b][i];
    cursor[b] = std::max<int64_t>(1, prompts[b].size());
  }
  std::vector<std::vector<int64_t>> generated(prompts.size());
  std::vector<bool> stopped(prompts.size(), false);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t width = *std::max_element(cursor.begin(), cursor.end());
    auto logits = model->forward(ids.narrow(1, 0, width)).logits;  // [B, width, V]
    int64_t running = 0;
    for (size_t b = 0; b < prompts.size(); ++b) {
      const int64_t next = logits[b][cursor[b] - 1].argmax().item<int64_t>();
      ids[b][cursor[b]] = next;
      if (!stopped[b]) generated[b].push_back(next);
      stopped[b] = stopped[b] || next == stop_token;
      running += stopped[b] ? 0 : 1;
      ++cursor[b];
    }
    for (size_t b = prompts.size(); b < size_t(rows); ++b) ++cursor[b];
    if (stop_token >= 0) {
      auto any = torch::full({1}, double(running), torch::kFloat64);
      groups.world().control->all_reduce(any, ReduceOp::kSum);
      if (any.item<double>() == 0) break;
    }
  }
  return generated;
}

class Generation : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = kFixtures + GetParam();
    config_ = read_hf_config(dir_);
    input_ids_ = SafetensorsFile(dir_ + "/reference.safetensors")
                     .load("input_ids", torch::kFloat32)
                     .to(torch::kInt64);  // [2, S]
  }

  CausalLM load(const ProcessGroups& groups) const {
    CausalLM model(config_, groups.ep());
    load_hf_checkpoint(SafetensorsCheckpoint(dir_), model, config_.architecture);
    model->eval();
    return model;
  }

  // Prompts of lengths S, S-5, 1 and 4 cut from the fixture's rows; prompt i goes to rank
  // i % world (none to the last rank with `starve_last_rank` on several ranks).
  std::vector<std::vector<int64_t>> prompts(bool starve_last_rank) const {
    const int64_t seq = input_ids_.size(1);
    std::vector<std::pair<int64_t, int64_t>> cuts = {{0, seq}, {1, seq - 5}, {1, 1}, {0, 4}};
    auto world = test::world();
    const int64_t ranks = world->size() > 1 && starve_last_rank ? world->size() - 1 : world->size();
    std::vector<std::vector<int64_t>> mine;
    for (size_t i = 0; i < cuts.size(); ++i) {
      if (int64_t(i) % ranks != world->rank() || world->rank() >= ranks) continue;
      auto row = input_ids_[cuts[i].first].narrow(0, 0, cuts[i].second).contiguous();
      mine.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
    }
    return mine;
  }

  std::string dir_;
  ModelConfig config_;
  torch::Tensor input_ids_;
};

TEST_P(Generation, CachedLogitsEqualFullForward) {
  auto world = test::world();
  const int64_t seq = input_ids_.size(1);
  const int64_t rows = input_ids_.size(0);
  const std::vector<int64_t> prompt = {seq / 2, 3};  // per row: tokens of the first pass
  for (int ep = 1; ep <= world->size(); ++ep) {
    if (world->size() % ep != 0 || config_.num_experts % ep != 0) continue;
    auto groups = ProcessGroups::create(world, ep);
    CausalLM model = load(groups);
    torch::NoGradGuard no_grad;
    const auto full = model->forward(input_ids_).logits;  // [2, S, V]
    KVCache cache = model->make_cache(seq);
    const int64_t first = *std::max_element(prompt.begin(), prompt.end());
    auto positions = torch::arange(first, torch::kInt64).repeat({rows, 1});  // [2, first]
    auto prefill = model->forward_cached(input_ids_.narrow(1, 0, first), positions, cache).logits;
    EXPECT_LE((prefill - full.narrow(1, 0, first)).abs().max().item<double>(), kLogitTolerance)
        << GetParam() << " ep=" << ep << " first pass";
    // Then one token per row and pass, each row at its own position (clamped at the end: the
    // last token is fed again, which rewrites the same key and value).
    std::vector<int64_t> cursor = prompt;
    double worst = 0;
    for (int64_t step = 0; step < seq; ++step) {
      auto at = torch::tensor(cursor, torch::kInt64).view({rows, 1});  // [2, 1]
      auto ids = input_ids_.gather(1, at);                             // [2, 1]
      auto logits = model->forward_cached(ids, at, cache).logits;      // [2, 1, V]
      auto want = full.gather(1, at.unsqueeze(-1).expand({rows, 1, full.size(2)}));
      worst = std::max(worst, (logits - want).abs().max().item<double>());
      for (auto& c : cursor) c = std::min(c + 1, seq - 1);
    }
    EXPECT_LE(worst, kLogitTolerance) << GetParam() << " ep=" << ep << " one token per pass";
    std::cout << GetParam() << " ep=" << ep << ": cached logits max abs diff " << worst << "\n";
  }
}

TEST_P(Generation, SameTokensAsFullRecompute) {
  auto world = test::world();
  for (int ep = 1; ep <= world->size(); ++ep) {
    if (world->size() % ep != 0 || config_.num_experts % ep != 0) continue;
    auto groups = ProcessGroups::create(world, ep);
    CausalLM model = load(groups);
    torch::NoGradGuard no_grad;
    for (bool starve : {false, true}) {
      const auto mine = prompts(starve);
      const std::string tag = GetParam() + " ep=" + std::to_string(ep) +
                              (starve ? " (last rank without prompts)" : "") + " rank " +
                              std::to_string(world->rank());
      const auto want = full_recompute_greedy(model, mine, kSteps, groups, -1);
      const auto got = greedy_generate(model, mine, kSteps, groups);
      EXPECT_EQ(got, want) << tag;
      for (const auto& row : got) EXPECT_EQ(int64_t(row.size()), kSteps) << tag;
      // Stop token: the third token of the first prompt of rank 0, the same on every rank.
      auto stop = torch::zeros({1}, torch::kFloat64);
      if (world->rank() == 0) stop[0] = double(want.at(0).at(2));
      groups.world().control->all_reduce(stop, ReduceOp::kSum);
      const int64_t stop_token = int64_t(stop.item<double>());
      const auto want_stopped = full_recompute_greedy(model, mine, kSteps, groups, stop_token);
      const auto got_stopped = greedy_generate(model, mine, kSteps, groups, stop_token);
      EXPECT_EQ(got_stopped, want_stopped) << tag << " stop token " << stop_token;
      if (world->rank() == 0) {
        ASSERT_LE(got_stopped.at(0).size(), 3u) << tag;
        EXPECT_EQ(got_stopped.at(0).back(), stop_token) << tag;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, Generation, ::testing::ValuesIn(kNames),
                         test::FixtureTestName());

}  // namespace
}  // namespace uoe
