#include "train/balancing_loss.h"

#include "common/check.h"

namespace uoe {

torch::Tensor assignment_counts(const torch::Tensor& topk_ids, const torch::Tensor& valid,
                                int64_t num_experts) {
  const int64_t k = topk_ids.size(-1);
  auto weights = valid.reshape({-1, 1}).to(torch::kFloat64).expand({-1, k}).reshape({-1});  // [T*K]
  return torch::zeros({num_experts}, weights.options())
      .scatter_add_(0, topk_ids.reshape({-1}), weights);  // [E]
}

torch::Tensor switch_loss_per_group(const torch::Tensor& probs, const torch::Tensor& topk_ids,
                                    const torch::Tensor& valid) {
  const int64_t groups = probs.size(0), n = probs.size(1), experts = probs.size(2);
  const int64_t k = topk_ids.size(2);
  auto mask = valid.to(probs.scalar_type());  // [G, n]
  auto weights = mask.unsqueeze(-1).expand({groups, n, k}).reshape({groups, n * k});
  auto counts = torch::zeros({groups, experts}, probs.options())
                    .scatter_add_(1, topk_ids.reshape({groups, n * k}), weights);  // [G, E]
  auto tokens = mask.sum(1).clamp_min(1.0).unsqueeze(-1);                          // [G, 1]
  auto f = counts / (tokens * double(k));                                          // [G, E]
  auto p = (probs * mask.unsqueeze(-1)).sum(1) / tokens;                           // [G, E]
  return double(experts) * (f * p).sum(-1);                                        // [G]
}

torch::Tensor switch_loss_token_sum(const torch::Tensor& probs, const torch::Tensor& valid,
                                    const torch::Tensor& shares) {
  auto p_sum = (probs * valid.reshape({-1, 1}).to(probs.scalar_type())).sum(0);  // [E]
  return double(probs.size(1)) * (shares.to(probs.scalar_type()) * p_sum).sum();
}

torch::Tensor z_loss_token_sum(const torch::Tensor& logits, const torch::Tensor& valid) {
  auto log_z = torch::logsumexp(logits, -1);  // [T]
  return (log_z * log_z * valid.reshape({-1}).to(logits.scalar_type())).sum();
}

torch::Tensor router_bias_update(const torch::Tensor& load, double rate) {
  return rate * torch::sign(load.mean() - load);
}

LoadBalancingOptions load_balancing_options(const TrainingConfig& training,
                                            const ModelConfig& model) {
  LoadBalancingOptions o;
  o.aux_coef = training.router_aux_loss_coef;
  o.z_coef = training.router_z_loss_coef;
  o.scope = training.moe_aux_loss_scope;
  o.num_experts = model.num_experts;
  o.top_k = model.num_experts_per_tok;
  o.normalize_scores = model.router_type == "deepseek_v3";
  o.bias_update_rate = training.moe_router_bias_update_rate;
  UOE_CHECK(o.bias_update_rate == 0 || model.router_type == "deepseek_v3",
            "moe_router_bias_update_rate needs model.router_type=deepseek_v3 (the router with "
            "e_score_correction_bias), got router_type=",
            model.router_type);
  UOE_CHECK(!(o.aux_coef > 0 || o.z_coef > 0) || model.num_experts > 0,
            "router_aux_loss_coef / router_z_loss_coef need a model with MoE layers "
            "(model.num_experts > 0)");
  return o;
}

LoadBalancingLoss::LoadBalancingLoss(const LoadBalancingOptions& options, CommunicatorPtr world)
    : options_(options), world_(std::move(world)) {}

void LoadBalancingLoss::start_step(int64_t forwards, double tokens, double sequences) {
  forwards_ = std::max<int64_t>(forwards, 1);
  tokens_ = std::max(tokens, 1.0);
  sequences_ = std::max(sequences, 1.0);
  counts_ = torch::Tensor();
  shares_ = torch::Tensor();
  load_ = torch::Tensor();
  aux_part_ = z_part_ = torch::Tensor();
}

bool LoadBalancingLoss::needs_counting_pass() const {
  return options_.aux_coef > 0 && options_.scope == AuxLossScope::kGlobalBatch && forwards_ > 1;
}

void LoadBalancingLoss::counting_pass(CausalLM& model, const std::vector<TokenBatch>& batches,
                                      StepProfiler* profiler) {
  const StepProfiler::Scope timer(profiler, "balance_counting");
  const torch::NoGradGuard no_grad;
  model->set_profiler(nullptr);
  for (const auto& b : batches) add_counts(model->forward(b.input_ids).moe, b.valid);
  model->set_profiler(profiler);
  reduce_counts();
}

torch::Tensor LoadBalancingLoss::layer_counts(const std::map<int64_t, MoEOutput>& moe,
                                              const torch::Tensor& valid) const {
  std::vector<torch::Tensor> rows;
  for (const auto& [layer, out] : moe) {
    rows.push_back(assignment_counts(out.routing.topk_ids, valid, options_.num_experts));
  }
  return torch::stack(rows);  // [L, E]
}

void LoadBalancingLoss::add_counts(const std::map<int64_t, MoEOutput>& moe,
                                   const torch::Tensor& valid) {
  auto counts = layer_counts(moe, valid);
  counts_ = counts_.defined() ? counts_ + counts : counts;
}

void LoadBalancingLoss::update_router_bias(CausalLM& model) {
  if (options_.bias_update_rate <= 0) return;
  UOE_CHECK(load_.defined(), "load balancing: update_router_bias() without a loss() pass");
  world_->all_reduce(load_, ReduceOp::kSum);
  const torch::NoGradGuard no_grad;
  int64_t row = 0;
  for (auto& layer : model->moe_layers()) {
    auto& bias = layer->gate->e_score_correction_bias;  // [E]
    bias.add_(router_bias_update(load_[row++], options_.bias_update_rate).to(bias.scalar_type()));
  }
}

void LoadBalancingLoss::reduce_counts() {
  UOE_CHECK(counts_.defined(), "load balancing: reduce_counts() before add_counts()");
  world_->all_reduce(counts_, ReduceOp::kSum);
  // [L, E]: every layer's assignments sum to K * N
  shares_ = (counts_ / counts_.sum(-1, true).clamp_min(1.0)).to(torch::kFloat32);
}

torch::Tensor LoadBalancingLoss::loss(const std::map<int64_t, MoEOutput>& moe,
                                      const torch::Tensor& valid) {
  if (options_.bias_update_rate > 0) {
    auto counts = layer_counts(moe, valid);
    load_ = load_.defined() ? load_ + counts : counts;
  }
  const bool aux_on = options_.aux_coef > 0;
  if (aux_on && options_.scope == AuxLossScope::kGlobalBatch && !shares_.defined()) {
    UOE_CHECK(forwards_ == 1, "load balancing: global_batch with ", forwards_,
              " forward passes needs the counting pass first");
    add_counts(moe, valid);
    reduce_counts();
  }
  const int64_t batch = valid.size(0), seq = valid.size(1);
  const int64_t experts = options_.num_experts, k = options_.top_k;
  auto aux = torch::zeros({}, valid.options().dtype(torch::kFloat32));
  auto z = torch::zeros({}, valid.options().dtype(torch::kFloat32));
  int64_t row = 0;
  for (const auto& [layer, out] : moe) {
    if (aux_on) {
      auto probs = out.routing.probs;  // [T, E]
      if (options_.normalize_scores) probs = probs / probs.sum(-1, true).clamp_min(1e-20);
      switch (options_.scope) {
        case AuxLossScope::kMicroBatch:
          aux = aux + switch_loss_per_group(probs.view({1, batch * seq, experts}),
                                            out.routing.topk_ids.view({1, batch * seq, k}),
                                            valid.reshape({1, batch * seq}))
                              .sum() /
                          double(forwards_ * world_->size());
          break;
        case AuxLossScope::kSequence:
          aux = aux + switch_loss_per_group(probs.view({batch, seq, experts}),
                                            out.routing.topk_ids.view({batch, seq, k}), valid)
                              .sum() /
                          sequences_;
          break;
        case AuxLossScope::kGlobalBatch:
          aux = aux + switch_loss_token_sum(probs, valid, shares_[row]) / tokens_;
          break;
      }
    }
    if (options_.z_coef > 0) z = z + z_loss_token_sum(out.routing.logits, valid) / tokens_;
    ++row;
  }
  const auto add = [](torch::Tensor& sum, const torch::Tensor& term) {
    const auto value = term.detach().to(torch::kFloat64);
    sum = sum.defined() ? sum + value : value;
  };
  add(aux_part_, aux);
  add(z_part_, z);
  return options_.aux_coef * aux + options_.z_coef * z;
}

}  // namespace uoe
