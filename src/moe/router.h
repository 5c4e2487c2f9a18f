#pragma once
// Routers. Notation: T tokens, H hidden size, E routed experts, K experts per token.
//
//   softmax     p = softmax(W h); top-K of p; weights renormalised when norm_topk_prob
//               (Mixtral, Qwen1.5/Qwen3-MoE, OLMoE), times routed_scaling_factor.
//   deepseek_v2 p = softmax(W h); top-K, optionally group-limited (keep the topk_group groups with
//               the largest max-p); weights renormalised when norm_topk_prob, otherwise scaled by
//               routed_scaling_factor (as DeepSeek-V2's MoEGate does).
//   deepseek_v3 p = sigmoid(W h); selection on p + e_score_correction_bias, group-limited by the
//               sum of each group's two largest biased scores; weights are the unbiased p of the
//               chosen experts, renormalised when norm_topk_prob, then scaled by
//               routed_scaling_factor.
//
// Router logits are computed in fp32. `probs` is the full [T, E] probability matrix (softmax, or
// sigmoid scores for deepseek_v3) that attribution and the router anchor loss use.
#include <torch/torch.h>

namespace uoe {

enum class RouterKind { kSoftmax, kDeepSeekV2, kDeepSeekV3 };

RouterKind parse_router_kind(const std::string& name);  // "softmax" | "deepseek_v2" | "deepseek_v3"
std::string to_string(RouterKind kind);

struct RouterOptions {
  int64_t hidden_size = 0;
  int64_t num_experts = 0;
  int64_t top_k = 1;
  RouterKind kind = RouterKind::kSoftmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1;     // expert groups for group-limited selection (1 = no grouping)
  int64_t topk_group = 1;  // groups kept per token
};

struct RouterOutput {
  torch::Tensor logits;        // [T, E] fp32 z = W h (the z-loss uses them)
  torch::Tensor probs;         // [T, E] fp32
  torch::Tensor topk_ids;      // [T, K] int64 global expert ids
  torch::Tensor topk_weights;  // [T, K] fp32 combine weights
};

class RouterImpl : public torch::nn::Module {
 public:
  // The weight unset (moe/linear.h), on parameter_options' device and in its dtype; the DeepSeek-V3
  // correction bias is zeros in fp32 on that device.
  explicit RouterImpl(const RouterOptions& options,
                      const torch::TensorOptions& parameter_options = {});
  // hidden [T, H] -> routing decision for each token.
  RouterOutput forward(const torch::Tensor& hidden);

  const RouterOptions& options() const { return options_; }
  torch::Tensor weight;                   // [E, H]
  torch::Tensor e_score_correction_bias;  // [E] fp32 buffer, deepseek_v3 only

 private:
  // Sets the scores of experts outside each token's best `topk_group` groups to `fill`.
  torch::Tensor mask_to_top_groups(const torch::Tensor& scores, const torch::Tensor& group_scores,
                                   double fill);
  RouterOptions options_;
};
TORCH_MODULE(Router);

}  // namespace uoe
