#include "unlearn/objectives.h"

namespace uoe {

torch::Tensor npo_loss_sum(const SequenceLogProbs& seq, const torch::Tensor& ref_logp,
                           double beta) {
  auto has_tokens = (seq.num_tokens > 0).to(seq.logp.scalar_type());  // [B]
  auto per_seq = -(2.0 / beta) * torch::log_sigmoid(-beta * (seq.logp - ref_logp));
  return (per_seq * has_tokens).sum();
}

torch::Tensor simnpo_loss_sum(const SequenceLogProbs& seq, double beta, double delta) {
  auto has_tokens = (seq.num_tokens > 0).to(seq.logp.scalar_type());
  auto normalised = seq.logp / seq.num_tokens.clamp_min(1.0);
  auto per_seq = -(2.0 / beta) * torch::log_sigmoid(-beta * normalised - delta);
  return (per_seq * has_tokens).sum();
}

torch::Tensor anchor_loss_sum(const torch::Tensor& probs, const torch::Tensor& valid,
                              int64_t expert) {
  auto onehot = torch::zeros({probs.size(1)}, probs.options());
  onehot[expert] = 1.0;
  auto per_token = (probs - onehot).pow(2).sum(-1);  // [T]
  return (per_token * valid.reshape({-1}).to(per_token.scalar_type())).sum();
}

torch::Tensor rmu_forget_sum(const torch::Tensor& hidden, const torch::Tensor& valid,
                             const torch::Tensor& target) {
  auto per_token = (hidden.to(torch::kFloat32) - target).pow(2).sum(-1);  // [B, S]
  return (per_token * valid).sum();
}

torch::Tensor rmu_retain_sum(const torch::Tensor& hidden, const torch::Tensor& frozen,
                             const torch::Tensor& valid) {
  auto per_token = (hidden.to(torch::kFloat32) - frozen.to(torch::kFloat32)).pow(2).sum(-1);
  return (per_token * valid).sum();
}

torch::Tensor rmu_target(int64_t hidden_size, double steering, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto u = torch::empty({hidden_size}, torch::kFloat32);
  u.uniform_(0.0, 1.0, gen);
  return steering * u / u.norm();
}

}  // namespace uoe
