#pragma once
// Unlearning objectives (DESIGN.md section 1). Every function returns a SUM over this rank's
// tokens or sequences; the trainer divides by the global count (one all-reduce per step), so the
// gradient summed over replicas is the gradient of the global mean for any layout.
// Notation: B sequences, S positions, V vocabulary, H hidden, T = B*S tokens, E experts.
#include <torch/torch.h>

#include "model/log_probs.h"

namespace uoe {

// NPO: sum_seq -(2/beta) * log sigmoid(-beta * (logp - ref_logp)); sequences with no scored
// token are skipped. logp, ref_logp, num_tokens [B].
torch::Tensor npo_loss_sum(const SequenceLogProbs& seq, const torch::Tensor& ref_logp, double beta);

// SimNPO: sum_seq -(2/beta) * log sigmoid(-beta * logp / |y| - delta).
torch::Tensor simnpo_loss_sum(const SequenceLogProbs& seq, double beta, double delta);

// Router anchor (SEUF Eq. 3): sum over valid tokens of || probs_t - onehot(expert) ||^2.
// probs [T, E] (full pre-top-K softmax), valid [T].
torch::Tensor anchor_loss_sum(const torch::Tensor& probs, const torch::Tensor& valid,
                              int64_t expert);

// RMU forget term: sum over valid tokens of || hidden_t - target ||^2. hidden [B, S, H],
// valid [B, S], target [H] (= c * u).
torch::Tensor rmu_forget_sum(const torch::Tensor& hidden, const torch::Tensor& valid,
                             const torch::Tensor& target);

// RMU retain term: sum over valid tokens of || hidden_t - frozen_t ||^2.
torch::Tensor rmu_retain_sum(const torch::Tensor& hidden, const torch::Tensor& frozen,
                             const torch::Tensor& valid);

// c * u with u a unit vector drawn uniformly from [0, 1)^H and normalised (as RMU does), seeded.
torch::Tensor rmu_target(int64_t hidden_size, double steering, uint64_t seed);

}  // namespace uoe
