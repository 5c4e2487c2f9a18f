#include "unlearn/attribution.h"

#include <iomanip>
#include <sstream>

#include "common/check.h"
#include "formats/hdf5_file.h"
#include "train/batching.h"

namespace uoe {

int64_t AttributionResult::row_of_layer(int64_t layer) const {
  for (size_t r = 0; r < layers.size(); ++r) {
    if (layers[r] == layer) return static_cast<int64_t>(r);
  }
  UOE_CHECK(false, "layer ", layer, " is not an MoE layer (MoE layers: ", c10::Join(", ", layers),
            ")");
  return -1;
}

int64_t AttributionResult::best_layer() const {
  return layers.at(scores.reshape({-1}).argmax().item<int64_t>() / scores.size(1));
}

torch::Tensor sequence_attribution(const torch::Tensor& probs, const torch::Tensor& topk_ids,
                                   const torch::Tensor& valid, torch::Tensor& counts_row) {
  const int64_t batch = valid.size(0);
  const int64_t experts = probs.size(1);
  auto selected = torch::zeros_like(probs).scatter_(1, topk_ids, 1.0);          // [T, E]
  auto gated = (probs.detach() * selected).to(torch::kFloat64);                 // [T, E] = g
  auto token_valid = valid.reshape({-1, 1}).to(torch::kFloat64);                // [T, 1]
  auto lengths = valid.sum(1).to(torch::kFloat64).clamp_min(1.0);               // [B]
  auto per_sequence = (gated * token_valid).view({batch, -1, experts}).sum(1);  // [B, E]
  counts_row +=
      (selected.to(torch::kFloat64) * token_valid).sum(0).to(counts_row.device(), torch::kInt64);
  return per_sequence / lengths.unsqueeze(1);  // [B, E]
}

AttributionResult compute_attribution(CausalLM& model, const TokenDataset& data,
                                      const ProcessGroups& groups, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const auto& config = model->config();
  AttributionResult result;
  result.layers = config.moe_layer_indices();
  const int64_t rows = static_cast<int64_t>(result.layers.size());
  result.scores = torch::zeros({rows, config.num_experts}, torch::kFloat64);
  result.counts = torch::zeros({rows, config.num_experts}, torch::kInt64);
  result.half_scores = torch::zeros({2, rows, config.num_experts}, torch::kFloat64);
  const int64_t first_half = data.size() / 2;      // sequences [0, first_half) form the first half
  auto totals = torch::zeros({2}, torch::kInt64);  // [tokens, sequences]
  for (const auto& indices :
       shard_batches(data.size(), groups.rank(), groups.world_size(), batch_size)) {
    // empty -> one all-pad row
    TokenBatch batch = make_batch(data, indices, model->device());
    std::vector<int64_t> halves(indices.size());
    for (size_t b = 0; b < indices.size(); ++b) halves[b] = indices[b] < first_half ? 0 : 1;
    if (halves.empty()) halves.push_back(0);                        // the all-pad row adds zeros
    const auto half_of_row = torch::tensor(halves, torch::kInt64);  // [B]
    auto out = model->forward(batch.input_ids);
    for (int64_t r = 0; r < rows; ++r) {
      const auto& routing = out.moe.at(result.layers[r]).routing;
      auto counts_row = result.counts[r];
      auto terms = sequence_attribution(routing.probs, routing.topk_ids, batch.valid, counts_row);
      terms = terms.to(torch::kCPU);  // the tables stay on the host (control values)
      result.scores[r] += terms.sum(0);
      result.half_scores.select(1, r).index_add_(0, half_of_row, terms);  // [2, E]
    }
    totals[0] += batch.counts.valid_tokens;
    totals[1] += static_cast<int64_t>(indices.size());
  }
  groups.world().control->all_reduce(result.scores, ReduceOp::kSum);
  groups.world().control->all_reduce(result.counts, ReduceOp::kSum);
  // MPI does not promise bit-identical reduction results on every rank; the target selection made
  // from these scores must be identical everywhere, so every rank takes rank 0's table.
  groups.world().control->all_reduce(result.half_scores, ReduceOp::kSum);
  groups.world().control->broadcast(result.scores, 0);
  groups.world().control->broadcast(result.half_scores, 0);
  groups.world().control->all_reduce(totals, ReduceOp::kSum);
  result.num_tokens = totals[0].item<int64_t>();
  result.num_sequences = totals[1].item<int64_t>();
  UOE_CHECK(result.num_sequences > 0, "attribution: dataset '", data.path(), "' is empty");
  result.scores /= double(result.num_sequences);
  result.half_scores[0] /= double(std::max<int64_t>(first_half, 1));
  result.half_scores[1] /= double(std::max<int64_t>(result.num_sequences - first_half, 1));
  return result;
}

namespace {

// Each row divided by its sum (an all-zero row stays zero): [L, E] -> [L, E].
torch::Tensor attribution_shares(const torch::Tensor& scores) {
  auto total = scores.sum(1, /*keepdim=*/true);  // [L, 1]
  return torch::where(total > 0, scores / total.clamp_min(1e-300), torch::zeros_like(scores));
}

}  // namespace

torch::Tensor attribution_contrast(const torch::Tensor& forget_scores,
                                   const torch::Tensor& retain_scores) {
  UOE_ASSERT(forget_scores.sizes() == retain_scores.sizes(),
             "contrast of tables of different shapes");
  return attribution_shares(forget_scores) - attribution_shares(retain_scores);
}

int64_t top_index(const torch::Tensor& table) {
  auto order = std::get<1>(table.reshape({-1}).sort(/*stable=*/true, 0, /*descending=*/true));
  return order[0].item<int64_t>();
}

std::optional<SplitHalfAgreement> split_half_agreement(const AttributionResult& result) {
  if (result.num_sequences < 2) return std::nullopt;
  SplitHalfAgreement a;
  a.layers = result.layers;
  const int64_t experts = result.half_scores.size(2);
  for (size_t r = 0; r < result.layers.size(); ++r) {
    a.top_first.push_back(top_index(result.half_scores[0][r]));
    a.top_second.push_back(top_index(result.half_scores[1][r]));
    a.layers_agreeing += a.top_first.back() == a.top_second.back() ? 1 : 0;
  }
  a.share = double(a.layers_agreeing) / double(std::max<size_t>(result.layers.size(), 1));
  const int64_t first = top_index(result.half_scores[0]), second = top_index(result.half_scores[1]);
  a.global_first = {result.layers[first / experts], first % experts};
  a.global_second = {result.layers[second / experts], second % experts};
  a.global_agrees = first == second;
  return a;
}

nlohmann::json SplitHalfAgreement::to_json() const {
  auto target = [](const ExpertTarget& t) {
    return nlohmann::json{{"layer", t.layer}, {"expert", t.expert}};
  };
  return {{"layers", layers},
          {"top_first_half", top_first},
          {"top_second_half", top_second},
          {"layers_agreeing", layers_agreeing},
          {"agreement_share", share},
          {"global_first_half", target(global_first)},
          {"global_second_half", target(global_second)},
          {"global_agrees", global_agrees}};
}

std::string SplitHalfAgreement::describe() const {
  std::ostringstream out;
  out << "split-half top-1 agreement: " << layers_agreeing << "/" << layers.size() << " layers ("
      << std::fixed << std::setprecision(2) << share << ");";
  for (size_t r = 0; r < layers.size(); ++r) {
    out << " layer " << layers[r] << " e" << top_first[r] << "/e" << top_second[r]
        << (top_first[r] == top_second[r] ? "" : " differ") << ";";
  }
  out << " global (" << global_first.layer << ", e" << global_first.expert << ")/("
      << global_second.layer << ", e" << global_second.expert << ") "
      << (global_agrees ? "agree" : "differ");
  return out.str();
}

void write_attribution(const std::string& path, const AttributionResult& result,
                       const AttributionResult* retain, int64_t target_layer,
                       int64_t target_expert) {
  Hdf5Writer file(path);
  file.write("scores", result.scores);
  file.write("counts", result.counts);
  file.write("half_scores", result.half_scores);
  if (retain) {
    file.write("retain_scores", retain->scores);
    file.write("retain_counts", retain->counts);
  }
  if (result.contrast.defined()) file.write("contrast", result.contrast);
  file.write("layers", torch::tensor(result.layers, torch::kInt64));
  file.set_attribute("num_tokens", result.num_tokens);
  file.set_attribute("num_sequences", result.num_sequences);
  file.set_attribute("target_layer", target_layer);
  file.set_attribute("target_expert", target_expert);
  file.commit();
}

std::string describe_attribution(const AttributionResult& result, int64_t top) {
  std::ostringstream out;
  const int64_t k = std::min<int64_t>(top, result.scores.size(1));
  for (size_t r = 0; r < result.layers.size(); ++r) {
    auto best = result.scores[r].topk(k);
    out << "  layer " << result.layers[r] << ":";
    for (int64_t i = 0; i < k; ++i) {
      const int64_t e = std::get<1>(best)[i].item<int64_t>();
      char buf[64];
      std::snprintf(buf, sizeof(buf), " e%ld %.4f (%ld)", long(e),
                    std::get<0>(best)[i].item<double>(), long(result.counts[r][e].item<int64_t>()));
      out << buf;
    }
    out << "\n";
  }
  return out.str();
}

std::string describe_contrast(const AttributionResult& forget, const AttributionResult& retain) {
  const auto forget_share = attribution_shares(forget.scores);  // [L, E]
  const auto retain_share = attribution_shares(retain.scores);  // [L, E]
  const auto contrast = forget_share - retain_share;            // [L, E]
  std::ostringstream out;
  for (size_t r = 0; r < forget.layers.size(); ++r) {
    const int64_t f = top_index(forget.scores[r]), c = top_index(contrast[r]);
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "  layer %ld: top forget e%ld (forget share %.3f, retain share %.3f); top "
                  "contrast e%ld %+.3f (%.3f - %.3f)\n",
                  long(forget.layers[r]), long(f), forget_share[r][f].item<double>(),
                  retain_share[r][f].item<double>(), long(c), contrast[r][c].item<double>(),
                  forget_share[r][c].item<double>(), retain_share[r][c].item<double>());
    out << buf;
  }
  return out.str();
}

}  // namespace uoe
