#include "model/log_probs.h"

namespace uoe {

SequenceLogProbs sequence_log_probs(const torch::Tensor& logits, const torch::Tensor& labels,
                                    const torch::Tensor& mask) {
  auto log_probs = torch::log_softmax(logits, -1);                           // [B, S, V]
  auto token_logp = log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1);  // [B, S]
  auto m = mask.to(token_logp.scalar_type());
  return {(token_logp * m).sum(1), m.sum(1)};
}

}  // namespace uoe
