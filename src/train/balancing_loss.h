#pragma once
// Load-balancing losses of MoE training (DESIGN.md section 1). Notation: L MoE layers, E routed
// experts, K experts per token, T = B*S tokens of one forward pass, N the valid (non-pad) tokens of
// the whole optimizer step over every rank and micro-batch. Padded positions (valid = 0) are left
// out everywhere, as transformers does with attention_mask.
//
//   Switch auxiliary loss, per MoE layer: E * sum_i f_i * P_i. f_i = share of the valid tokens'
//   top-K assignments that went to expert i (sums to 1; a count, no gradient), P_i = mean over
//   valid tokens of p_t,i (the gradient flows through it). Scope (moe_aux_loss_scope):
//     micro_batch   f and P of each rank's forward pass, the loss averaged over every rank and
//                   forward pass of the step (what HF Trainer + DDP does);
//     sequence      f and P of each sequence (DeepSeek-V2), averaged over the step's sequences;
//     global_batch  f of the whole step (summed over every rank and micro-batch before the product,
//                   Qwen3), P over the step's N tokens: equal to one rank computing on the batch.
//   Router z-loss (ST-MoE), per MoE layer: mean over the step's N tokens of (logsumexp_i z_t,i)^2.
//   Both are summed over the MoE layers (Switch, DeepSeek and Megatron add one term per layer).
//
// transformers' load_balancing_loss_func differs in two ways: its f_i is the share of tokens
// (sums to K), so its single-layer value is K times uoe's; and it concatenates the layers, i.e.
// multiplies layer-averaged f and P, which balances only the load averaged over layers.
// Auxiliary-loss-free balancing (DeepSeek-V3, moe_router_bias_update_rate, deepseek_v3 routers
// only): after each optimizer step every MoE layer's e_score_correction_bias b gets
// b_i += rate * sign(mean_j load_j - load_i), load = the step's valid top-K assignments summed over
// all ranks and forward passes (stored and exported with the router as HF's buffer).
// deepseek_v3 routers use the scores normalised to sum 1 per token for P (DeepSeek-V3's
// sequence-wise balance loss).
#include <torch/torch.h>

#include <map>

#include "data/token_dataset.h"
#include "model/causal_lm.h"
#include "parallel/communicator.h"
#include "train/training_options.h"

namespace uoe {

// Valid top-K assignments per expert: topk_ids [T, K], valid [T] -> [E] fp64.
torch::Tensor assignment_counts(const torch::Tensor& topk_ids, const torch::Tensor& valid,
                                int64_t num_experts);
// Switch loss of each group of tokens: probs [G, n, E], topk_ids [G, n, K], valid [G, n] -> [G]
// E * sum_i f_gi * P_gi (0 for a group without valid tokens).
torch::Tensor switch_loss_per_group(const torch::Tensor& probs, const torch::Tensor& topk_ids,
                                    const torch::Tensor& valid);
// E * sum_i shares_i * sum_t valid_t * p_t,i: probs [T, E], valid [T], shares [E] (no gradient)
// -> scalar; divided by the token count it is the Switch loss with the given f.
torch::Tensor switch_loss_token_sum(const torch::Tensor& probs, const torch::Tensor& valid,
                                    const torch::Tensor& shares);
// sum_t valid_t * (logsumexp_i z_t,i)^2: logits [T, E], valid [T] -> scalar.
torch::Tensor z_loss_token_sum(const torch::Tensor& logits, const torch::Tensor& valid);
// The aux-loss-free bias change: load [E] -> [E] rate * sign(mean load - load_i).
torch::Tensor router_bias_update(const torch::Tensor& load, double rate);

struct LoadBalancingOptions {
  double aux_coef = 0.0;  // router_aux_loss_coef
  double z_coef = 0.0;    // router_z_loss_coef
  AuxLossScope scope = AuxLossScope::kMicroBatch;
  int64_t num_experts = 0;
  int64_t top_k = 1;
  bool normalize_scores = false;  // P from scores / sum of scores (deepseek_v3 sigmoid router)
  double bias_update_rate = 0.0;  // moe_router_bias_update_rate
};
LoadBalancingOptions load_balancing_options(const TrainingConfig& training,
                                            const ModelConfig& model);

// The balancing losses of one training step, added to each trained forward pass's loss.
class LoadBalancingLoss {
 public:
  LoadBalancingLoss(const LoadBalancingOptions& options, CommunicatorPtr world);
  bool enabled() const {
    return options_.aux_coef > 0 || options_.z_coef > 0 || options_.bias_update_rate > 0;
  }

  // `forwards`: trained forward passes of this rank in the step (the same on every rank);
  // `tokens` / `sequences`: valid tokens / sequences with a valid token of the step, all ranks.
  void start_step(int64_t forwards, double tokens, double sequences);
  // global_batch scope with several forwards per rank: f must be known before the first backward,
  // so counting_pass() runs the step's forward passes without gradient first (one extra forward
  // per micro-batch) and all-reduces their counts (collective over the world; the profiler, if
  // any, is detached meanwhile and the time reported as "balance_counting").
  bool needs_counting_pass() const;
  void counting_pass(CausalLM& model, const std::vector<TokenBatch>& batches,
                     StepProfiler* profiler);
  // The two halves of counting_pass(): add one pass's counts; all-reduce them into f.
  void add_counts(const std::map<int64_t, MoEOutput>& moe, const torch::Tensor& valid);
  void reduce_counts();
  // coef-weighted losses of one forward pass (valid [B, S]), normalised so that their sum over
  // the step's forward passes and ranks is the step's loss. In global_batch scope with one
  // forward per rank it all-reduces that pass's counts itself (collective over the world).
  torch::Tensor loss(const std::map<int64_t, MoEOutput>& moe, const torch::Tensor& valid);
  // After the optimizer step: the aux-loss-free bias update of every MoE layer of `model` from the
  // load of the step's loss() passes. Collective over the world when the rate is > 0.
  void update_router_bias(CausalLM& model);
  // This rank's part of the step's unweighted aux / z loss so far (summed over ranks: the loss):
  // fp64 scalars on the device of the loss() passes (host zeros before the first).
  torch::Tensor aux_part() const { return part(aux_part_); }
  torch::Tensor z_part() const { return part(z_part_); }

 private:
  LoadBalancingOptions options_;
  CommunicatorPtr world_;
  int64_t forwards_ = 1;
  double tokens_ = 1.0, sequences_ = 1.0;
  torch::Tensor counts_;  // [L, E] fp64 valid assignments of the step (layers in index order)
  torch::Tensor shares_;  // [L, E] fp32 f of the step (global_batch), once reduced
  torch::Tensor load_;    // [L, E] fp64 valid assignments of the step's loss() passes
  torch::Tensor aux_part_, z_part_;  // [] fp64, undefined before the step's first loss()

  static torch::Tensor part(const torch::Tensor& sum) {
    return sum.defined() ? sum : torch::zeros({}, torch::kFloat64);
  }

  torch::Tensor layer_counts(const std::map<int64_t, MoEOutput>& moe,
                             const torch::Tensor& valid) const;  // [L, E]
};

}  // namespace uoe
