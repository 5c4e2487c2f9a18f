#include "unlearn/attribution.h"

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

void accumulate_attribution(const torch::Tensor& probs, const torch::Tensor& topk_ids,
                            const torch::Tensor& valid, torch::Tensor& scores_row,
                            torch::Tensor& counts_row) {
  const int64_t batch = valid.size(0);
  const int64_t experts = probs.size(1);
  auto selected = torch::zeros_like(probs).scatter_(1, topk_ids, 1.0);   // [T, E]
  auto gated = (probs.detach() * selected).to(torch::kFloat64);          // [T, E] = g
  auto token_valid = valid.reshape({-1, 1}).to(torch::kFloat64);          // [T, 1]
  auto lengths = valid.sum(1).to(torch::kFloat64).clamp_min(1.0);         // [B]
  auto per_sequence = (gated * token_valid).view({batch, -1, experts}).sum(1);  // [B, E]
  scores_row += (per_sequence / lengths.unsqueeze(1)).sum(0);
  counts_row += (selected.to(torch::kFloat64) * token_valid).sum(0).to(torch::kInt64);
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
  auto totals = torch::zeros({2}, torch::kInt64);  // [tokens, sequences]
  for (const auto& indices :
       shard_batches(data.size(), groups.rank(), groups.world_size(), batch_size)) {
    TokenBatch batch = make_batch(data, indices);  // empty -> one all-pad row
    auto out = model->forward(batch.input_ids);
    for (int64_t r = 0; r < rows; ++r) {
      const auto& routing = out.moe.at(result.layers[r]).routing;
      auto scores_row = result.scores[r];
      auto counts_row = result.counts[r];
      accumulate_attribution(routing.probs, routing.topk_ids, batch.valid, scores_row, counts_row);
    }
    totals[0] += batch.valid.sum().to(torch::kInt64);
    totals[1] += static_cast<int64_t>(indices.size());
  }
  groups.world().control->all_reduce(result.scores, ReduceOp::kSum);
  groups.world().control->all_reduce(result.counts, ReduceOp::kSum);
  // MPI does not promise bit-identical reduction results on every rank; the target selection made
  // from these scores must be identical everywhere, so every rank takes rank 0's table.
  groups.world().control->broadcast(result.scores, 0);
  groups.world().control->all_reduce(totals, ReduceOp::kSum);
  result.num_tokens = totals[0].item<int64_t>();
  result.num_sequences = totals[1].item<int64_t>();
  UOE_CHECK(result.num_sequences > 0, "attribution: dataset '", data.path(), "' is empty");
  result.scores /= double(result.num_sequences);
  return result;
}

void write_attribution(const std::string& path, const AttributionResult& result,
                       int64_t target_layer, int64_t target_expert) {
  Hdf5Writer file(path);
  file.write("scores", result.scores);
  file.write("counts", result.counts);
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

}  // namespace uoe
