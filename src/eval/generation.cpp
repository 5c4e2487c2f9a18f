#include "eval/generation.h"

#include <algorithm>

namespace uoe {

std::vector<std::vector<int64_t>> greedy_generate(CausalLM& model,
                                                  const std::vector<std::vector<int64_t>>& prompts,
                                                  int64_t steps, const ProcessGroups& groups,
                                                  int64_t stop_token) {
  torch::NoGradGuard no_grad;
  const int64_t rows = std::max<int64_t>(1, prompts.size());
  int64_t longest = 1;
  for (const auto& p : prompts) longest = std::max<int64_t>(longest, p.size());
  auto ids = torch::zeros({rows, longest}, torch::kInt64);  // [B, longest] right-padded prompts
  std::vector<int64_t> cursor(rows, 1);  // each row's length: its next token goes there
  for (size_t b = 0; b < prompts.size(); ++b) {
    for (size_t i = 0; i < prompts[b].size(); ++i) ids[b][i] = prompts[b][i];
    cursor[b] = std::max<int64_t>(1, prompts[b].size());
  }
  std::vector<std::vector<int64_t>> generated(prompts.size());
  std::vector<bool> stopped(prompts.size(), false);
  if (steps <= 0) return generated;
  KVCache cache = model->make_cache(longest + steps - 1);
  const torch::Device device = model->device();
  // The first pass computes the padded prompts; later ones each row's newest token.
  auto positions = torch::arange(longest, torch::kInt64).repeat({rows, 1});  // [B, S]
  for (int64_t s = 0; s < steps; ++s) {
    const auto logits =
        model->forward_cached(ids.to(device), positions.to(device), cache).logits;  // [B, S, V]
    const auto best = logits.argmax(-1).to(torch::kCPU);     // [B, S]: one copy to the host
    auto next_ids = torch::zeros({rows, 1}, torch::kInt64);  // [B, 1]; rows without a prompt: 0
    int64_t running = 0;
    for (size_t b = 0; b < prompts.size(); ++b) {
      const int64_t column = s == 0 ? cursor[b] - 1 : 0;  // the logits of position cursor - 1
      const int64_t next = best[b][column].item<int64_t>();
      next_ids[b][0] = next;
      if (!stopped[b]) generated[b].push_back(next);
      stopped[b] = stopped[b] || next == stop_token;
      running += stopped[b] ? 0 : 1;
    }
    for (auto& c : cursor) ++c;
    ids = next_ids;
    positions = torch::tensor(cursor, torch::kInt64).view({rows, 1}) - 1;  // [B, 1]
    if (stop_token >= 0) {  // the ranks stop together: every forward pass is collective
      auto any = torch::full({1}, double(running), torch::kFloat64);
      groups.world().control->all_reduce(any, ReduceOp::kSum);
      if (any.item<double>() == 0) break;
    }
  }
  return generated;
}

}  // namespace uoe
