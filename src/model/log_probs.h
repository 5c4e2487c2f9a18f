#pragma once
// Log-probabilities of scored (answer) tokens under a causal LM: what the unlearning objectives,
// the QA metrics and multiple-choice scoring are built on.
#include <torch/torch.h>

namespace uoe {

struct SequenceLogProbs {
  torch::Tensor logp;        // [B] sum of log p(answer token) over scored tokens
  torch::Tensor num_tokens;  // [B] scored tokens per sequence (float)
};

// logits [B, S, V], labels [B, S], mask [B, S] -> per-sequence answer log-probabilities.
SequenceLogProbs sequence_log_probs(const torch::Tensor& logits, const torch::Tensor& labels,
                                    const torch::Tensor& mask);

}  // namespace uoe
