#include "moe/router.h"

#include <limits>

#include "common/check.h"
#include "common/named_enum.h"
#include "moe/linear.h"

namespace uoe {

namespace {
constexpr EnumName<RouterKind> kRouterKindNames[] = {{RouterKind::kSoftmax, "softmax"},
                                                     {RouterKind::kDeepSeekV2, "deepseek_v2"},
                                                     {RouterKind::kDeepSeekV3, "deepseek_v3"}};
}  // namespace

RouterKind parse_router_kind(const std::string& name) {
  const auto kind = enum_value(kRouterKindNames, name);
  UOE_CHECK(kind.has_value(), "unknown router type '", name,
            "'; supported: ", enum_choices(kRouterKindNames));
  return *kind;
}

std::string to_string(RouterKind kind) { return enum_name(kRouterKindNames, kind); }

RouterImpl::RouterImpl(const RouterOptions& options, const torch::TensorOptions& parameter_options)
    : options_(options) {
  UOE_CHECK(options.num_experts > 0, "router: num_experts must be > 0, got ", options.num_experts);
  UOE_CHECK(options.top_k >= 1 && options.top_k <= options.num_experts,
            "router: top_k must be in [1, num_experts=", options.num_experts, "], got ",
            options.top_k);
  UOE_CHECK(options.n_group >= 1 && options.num_experts % options.n_group == 0,
            "router: n_group=", options.n_group, " must divide num_experts=", options.num_experts);
  UOE_CHECK(options.topk_group >= 1 && options.topk_group <= options.n_group,
            "router: topk_group=", options.topk_group, " must be in [1, n_group=", options.n_group,
            "]");
  weight = register_parameter(
      "weight", unset_parameter({options.num_experts, options.hidden_size}, parameter_options));
  if (options.kind == RouterKind::kDeepSeekV3) {
    // fp32 whatever the model's dtype (transformers' _keep_in_fp32_modules_strict): the
    // aux-loss-free updates are far below bf16's rounding step once the bias is away from 0.
    e_score_correction_bias = register_buffer(
        "e_score_correction_bias",
        torch::zeros({options.num_experts}, parameter_options.dtype(torch::kFloat32)));
  }
}

torch::Tensor RouterImpl::mask_to_top_groups(const torch::Tensor& scores,
                                             const torch::Tensor& group_scores, double fill) {
  // scores [T, E], group_scores [T, G] -> scores with experts of non-selected groups set to `fill`.
  const int64_t tokens = scores.size(0);
  auto group_ids = std::get<1>(group_scores.topk(options_.topk_group, -1, true, false));  // [T, g]
  auto group_mask = torch::zeros_like(group_scores).scatter_(1, group_ids, 1.0);          // [T, G]
  auto expert_mask =
      group_mask.unsqueeze(-1)
          .expand({tokens, options_.n_group, options_.num_experts / options_.n_group})
          .reshape({tokens, options_.num_experts});  // [T, E]
  return scores.masked_fill(expert_mask.logical_not(), fill);
}

RouterOutput RouterImpl::forward(const torch::Tensor& hidden) {
  const int64_t tokens = hidden.size(0);
  auto logits =
      torch::matmul(hidden.to(torch::kFloat32), weight.to(torch::kFloat32).t());  // [T, E]
  RouterOutput out;
  out.logits = logits;
  const int64_t group_size = options_.num_experts / options_.n_group;
  if (options_.kind == RouterKind::kDeepSeekV3) {
    out.probs = torch::sigmoid(logits);                                              // [T, E]
    auto biased = out.probs.detach() + e_score_correction_bias.to(torch::kFloat32);  // [T, E]
    if (options_.n_group > 1) {
      auto group_scores = std::get<0>(biased.view({tokens, options_.n_group, group_size})
                                          .topk(std::min<int64_t>(2, group_size), -1))
                              .sum(-1);  // [T, G]
      // -inf as DeepSeek-V3's inference code and transformers 5: a kept expert whose biased score
      // is negative still ranks above every expert of a dropped group.
      biased = mask_to_top_groups(biased, group_scores, -std::numeric_limits<double>::infinity());
    }
    out.topk_ids = std::get<1>(biased.topk(options_.top_k, -1, true, true));  // [T, K]
    out.topk_weights = out.probs.gather(1, out.topk_ids);                     // [T, K]
    if (options_.norm_topk_prob) {
      out.topk_weights = out.topk_weights / (out.topk_weights.sum(-1, true) + 1e-20);
    }
    out.topk_weights = out.topk_weights * options_.routed_scaling_factor;
    return out;
  }

  out.probs = torch::softmax(logits, -1);  // [T, E]
  auto selection = out.probs;
  if (options_.kind == RouterKind::kDeepSeekV2 && options_.n_group > 1) {
    auto group_scores =
        std::get<0>(out.probs.detach().view({tokens, options_.n_group, group_size}).max(-1));
    selection = mask_to_top_groups(out.probs, group_scores, 0.0);  // as DeepSeek-V2 (probs > 0)
  }
  auto topk = selection.topk(options_.top_k, -1, true, true);
  out.topk_ids = std::get<1>(topk);      // [T, K]
  out.topk_weights = std::get<0>(topk);  // [T, K]
  if (options_.kind == RouterKind::kDeepSeekV2) {
    // DeepSeek's modeling_deepseek.py: renormalise (then no scaling factor) when top_k > 1 and
    // norm_topk_prob; transformers' DeepseekV2 ignores norm_topk_prob and always scales.
    if (options_.top_k > 1 && options_.norm_topk_prob) {
      out.topk_weights = out.topk_weights / (out.topk_weights.sum(-1, true) + 1e-20);
    } else {
      out.topk_weights = out.topk_weights * options_.routed_scaling_factor;
    }
    return out;
  }
  if (options_.norm_topk_prob) out.topk_weights = out.topk_weights / out.topk_weights.sum(-1, true);
  if (options_.routed_scaling_factor != 1.0) {
    out.topk_weights = out.topk_weights * options_.routed_scaling_factor;
  }
  return out;
}

}  // namespace uoe
