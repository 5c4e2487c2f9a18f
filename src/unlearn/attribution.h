#pragma once
// Expert attribution (SEUF Eq. 2, from ESFT). Notation: Z sequences, L_j valid tokens of sequence
// j, g_{i,t}^(l) = p_{i,t}^(l) if expert i is in token t's top-K at MoE layer l, else 0.
//   scores[l, i] = (1/Z) * sum_j (1/L_j) * sum_{t in j} g_{i,t}^(l)
//   counts[l, i] = number of top-K selections of expert i at layer l
// Every rank accumulates partial sums over its share of the sequences; one all-reduce over the
// world gives the global table.
//
// Specificity (issue 19): with a retain set scored the same way, the contrast of expert i at layer
// l is its forget share minus its retain share, share_i = scores[l, i] / sum_j scores[l, j]:
//   contrast[l, i] = forget_share[l, i] - retain_share[l, i]        (in [-1, 1], rows sum to 0)
// A difference of shares rather than a ratio: a ratio needs an epsilon and ranks first an expert
// that neither set uses (1e-4 / 1e-6 beats 0.40 / 0.10), while the difference is large only for
// an expert that carries much of the forget mass and little of the retain mass. Shares rather than
// raw scores: the two sets have different top-K mass per token, and shares make rows of different
// layers comparable for the global top-M.
// Stability (the paper's Table 8): the first floor(Z/2) sequences and the other ones are scored
// separately (half_scores); the check is whether both halves have the same top-1 expert per layer
// and the same top-1 (layer, expert) overall.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "data/token_dataset.h"
#include "eval/routing_metrics.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

struct AttributionResult {
  std::vector<int64_t> layers;  // model layer index of each row (MoE layers only)
  torch::Tensor scores;         // [L, E] float64
  torch::Tensor counts;         // [L, E] int64
  torch::Tensor half_scores;    // [2, L, E] float64: scores of the first / second half
  torch::Tensor contrast;       // [L, E] float64 forget - retain share (attribution_contrast,
                                // set by the caller); undefined without a retain set
  int64_t num_tokens = 0;
  int64_t num_sequences = 0;

  int64_t row_of_layer(int64_t layer) const;  // throws InputError if `layer` is not an MoE layer
  int64_t best_layer() const;                 // layer of the highest-scoring (layer, expert)
};

// Collective over the world (sequences dealt round-robin to ranks).
AttributionResult compute_attribution(CausalLM& model, const TokenDataset& data,
                                      const ProcessGroups& groups, int64_t batch_size);

// One batch at one MoE layer: probs [T, E], topk_ids [T, K], valid [B, S] with T = B*S.
// Returns each sequence's term (1/L_j) * sum_t g_{i,t} as [B, E] float64 and adds the top-K
// selections of valid tokens to counts_row [E].
torch::Tensor sequence_attribution(const torch::Tensor& probs, const torch::Tensor& topk_ids,
                                   const torch::Tensor& valid, torch::Tensor& counts_row);

// forget share - retain share per row (an all-zero row has share 0): [L, E] x [L, E] -> [L, E].
torch::Tensor attribution_contrast(const torch::Tensor& forget_scores,
                                   const torch::Tensor& retain_scores);

// Position of the largest entry of `table` ([E] or [L, E] flattened); ties go to the lowest index.
int64_t top_index(const torch::Tensor& table);

struct SplitHalfAgreement {
  std::vector<int64_t> layers;                 // MoE layer of each entry below
  std::vector<int64_t> top_first, top_second;  // top-1 expert of each half per layer
  ExpertTarget global_first, global_second;    // top-1 (layer, expert) of each half
  int64_t layers_agreeing = 0;
  double share = 0.0;  // layers_agreeing / number of MoE layers
  bool global_agrees = false;

  nlohmann::json to_json() const;
  std::string describe() const;  // one line
};

// From result.half_scores; none when the set has fewer than 2 sequences.
std::optional<SplitHalfAgreement> split_half_agreement(const AttributionResult& result);

// Rank 0 writes <path> (HDF5, atomically): datasets scores, counts, half_scores, layers, and with
// a retain result also retain_scores, retain_counts, and contrast when result.contrast is set;
// attributes num_tokens,
// num_sequences, target_layer, target_expert (first selected expert; -1 if none).
void write_attribution(const std::string& path, const AttributionResult& result,
                       const AttributionResult* retain, int64_t target_layer,
                       int64_t target_expert);

// "layer 2: e5 0.412 (1203), e1 0.190 (640), ..." for the `top` best experts of every layer.
std::string describe_attribution(const AttributionResult& result, int64_t top);

// Per layer: the top forget expert with its forget and retain shares, and the top contrast expert.
std::string describe_contrast(const AttributionResult& forget, const AttributionResult& retain);

}  // namespace uoe
