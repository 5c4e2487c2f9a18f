#pragma once
// Expert attribution (SEUF Eq. 2, from ESFT). Notation: Z sequences, L_j valid tokens of sequence
// j, g_{i,t}^(l) = p_{i,t}^(l) if expert i is in token t's top-K at MoE layer l, else 0.
//   scores[l, i] = (1/Z) * sum_j (1/L_j) * sum_{t in j} g_{i,t}^(l)
//   counts[l, i] = number of top-K selections of expert i at layer l
// Every rank accumulates partial sums over its share of the sequences; one all-reduce over the
// world gives the global table.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/token_dataset.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

struct AttributionResult {
  std::vector<int64_t> layers;  // model layer index of each row (MoE layers only)
  torch::Tensor scores;         // [L, E] float64
  torch::Tensor counts;         // [L, E] int64
  int64_t num_tokens = 0;
  int64_t num_sequences = 0;

  int64_t row_of_layer(int64_t layer) const;  // throws InputError if `layer` is not an MoE layer
  int64_t best_layer() const;                 // layer of the highest-scoring (layer, expert)
};

// Collective over the world (sequences dealt round-robin to ranks).
AttributionResult compute_attribution(CausalLM& model, const TokenDataset& data,
                                      const ProcessGroups& groups, int64_t batch_size);

// Adds one batch's contribution: probs [T, E], topk_ids [T, K], valid [B, S] with T = B*S.
// Accumulates into scores_row [E] (float64, per-sequence normalised) and counts_row [E].
void accumulate_attribution(const torch::Tensor& probs, const torch::Tensor& topk_ids,
                            const torch::Tensor& valid, torch::Tensor& scores_row,
                            torch::Tensor& counts_row);

// Rank 0 writes <path> (HDF5, atomically): datasets scores, counts, layers; attributes
// num_tokens, num_sequences, target_layer, target_expert (first selected expert; -1 if none).
void write_attribution(const std::string& path, const AttributionResult& result,
                       int64_t target_layer, int64_t target_expert);

// "layer 2: e5 0.412 (1203), e1 0.190 (640), ..." for the `top` best experts of every layer.
std::string describe_attribution(const AttributionResult& result, int64_t top);

}  // namespace uoe
