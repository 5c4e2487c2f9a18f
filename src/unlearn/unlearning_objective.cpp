#include "unlearn/unlearning_objective.h"

#include "checkpoint/checkpoint.h"
#include "common/check.h"
#include "common/device.h"
#include "eval/evaluation.h"
#include "eval/routing_metrics.h"
#include "unlearn/objectives.h"

namespace uoe {

bool method_uses_retain(const UnlearnConfig& config) {
  switch (config.method) {
    case UnlearnMethod::kGdiff:
    case UnlearnMethod::kRmu:
      return true;
    case UnlearnMethod::kNpo:
    case UnlearnMethod::kSimNpo:
      return config.retain_weight > 0;
    case UnlearnMethod::kGa:
      break;
  }
  return false;
}

double global_count(const torch::Tensor& counts, UnlearnCount which) {
  return std::max(counts[int64_t(which)].item<double>(), 1.0);
}

namespace {

enum PassTerm { kForgetPass = 0, kRetainPass = 1 };

// Token NLL: gradient ascent on forget batches (ga, gdiff), descent on retain batches.
class NllTerm : public UnlearnTerm {
 public:
  explicit NllTerm(bool ascent) : ascent_(ascent) {}
  Result forward(CausalLM& model, const TokenBatch& b, const torch::Tensor& counts) const override {
    auto out = model->forward(b.input_ids);
    auto nll = token_nll_sum(out.logits, b.labels, b.loss_mask);
    auto loss = ascent_ ? -nll / global_count(counts, UnlearnCount::kForgetScored)
                        : nll / global_count(counts, UnlearnCount::kRetainScored);
    return {std::move(out), loss};
  }

 private:
  bool ascent_;
};

// NPO against the original model's answer log-probs, cached once for the whole forget set.
class NpoTerm : public UnlearnTerm {
 public:
  NpoTerm(CausalLM& model, const TokenDataset& forget, const ProcessGroups& groups, int64_t batch,
          double beta)
      : ref_logp_(answer_log_probs(model, forget, groups, batch)), beta_(beta) {}
  Result forward(CausalLM& model, const TokenBatch& b, const torch::Tensor& counts) const override {
    auto out = model->forward(b.input_ids);
    std::vector<int64_t> rows(b.indices.begin(), b.indices.end());
    auto ref = rows.empty() ? torch::zeros({1}, torch::kFloat64)
                            : ref_logp_.index_select(0, torch::tensor(rows, torch::kInt64));  // [B]
    auto loss = npo_loss_sum(sequence_log_probs(out.logits, b.labels, b.loss_mask),
                             host_to_device(ref.to(torch::kFloat32), out.logits.device()), beta_) /
                global_count(counts, UnlearnCount::kForgetSequences);
    return {std::move(out), loss};
  }

 private:
  torch::Tensor ref_logp_;  // [N] fp64 on the host, forget-set order
  double beta_;
};

class SimNpoTerm : public UnlearnTerm {
 public:
  SimNpoTerm(double beta, double delta) : beta_(beta), delta_(delta) {}
  Result forward(CausalLM& model, const TokenBatch& b, const torch::Tensor& counts) const override {
    auto out = model->forward(b.input_ids);
    auto loss =
        simnpo_loss_sum(sequence_log_probs(out.logits, b.labels, b.loss_mask), beta_, delta_) /
        global_count(counts, UnlearnCount::kForgetSequences);
    return {std::move(out), loss};
  }

 private:
  double beta_, delta_;
};

// RMU forget term: the hooked layer's output of forget tokens pushed towards c * u.
class RmuForgetTerm : public UnlearnTerm {
 public:
  RmuForgetTerm(const torch::Tensor& direction, int64_t layer, const torch::Device& device)
      : direction_(direction.to(device)), layer_(layer) {}
  Result forward(CausalLM& model, const TokenBatch& b, const torch::Tensor& counts) const override {
    auto out = model->forward(b.input_ids, layer_);
    auto loss = rmu_forget_sum(out.captured_hidden, b.valid, direction_) /
                global_count(counts, UnlearnCount::kForgetValid);
    return {std::move(out), loss};
  }

 private:
  torch::Tensor direction_;  // [H] on the model's device
  int64_t layer_;
};

// The trainable tensors' values before unlearning, for RMU's frozen-model activations: only the
// trainable parameters change, so swapping them back in reproduces the frozen model.
class FrozenParameters {
 public:
  explicit FrozenParameters(const TrainableSet& set) {
    torch::NoGradGuard no_grad;
    for (const auto* group : {&set.dense, &set.expert}) {
      for (const auto& p : *group) pairs_.emplace_back(p, p.detach().clone());
    }
  }
  // Runs `fn` with the frozen values in place, then restores the trained ones.
  template <typename Fn>
  auto with_frozen(Fn fn) const {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> trained;
    for (const auto& [param, frozen] : pairs_) {
      trained.push_back(param.detach().clone());
      param.detach().copy_(frozen);
    }
    auto result = fn();
    for (size_t i = 0; i < pairs_.size(); ++i) pairs_[i].first.detach().copy_(trained[i]);
    return result;
  }

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> pairs_;
};

// RMU retain term: the hooked layer's output of retain tokens kept at the frozen model's.
class RmuRetainTerm : public UnlearnTerm {
 public:
  RmuRetainTerm(const TrainableSet& trainable, int64_t layer, double alpha)
      : frozen_(trainable), layer_(layer), alpha_(alpha) {}
  Result forward(CausalLM& model, const TokenBatch& b, const torch::Tensor& counts) const override {
    torch::Tensor frozen_hidden =
        frozen_.with_frozen([&] { return model->forward(b.input_ids, layer_).captured_hidden; });
    auto out = model->forward(b.input_ids, layer_);
    auto loss = alpha_ * rmu_retain_sum(out.captured_hidden, frozen_hidden, b.valid) /
                global_count(counts, UnlearnCount::kRetainValid);
    return {std::move(out), loss};
  }

 private:
  FrozenParameters frozen_;
  int64_t layer_;
  double alpha_;
};

}  // namespace

UnlearningObjective::UnlearningObjective(const UnlearnRunOptions& options,
                                         const ProcessGroups& groups, CausalLM& model,
                                         const Selection& selection, const TrainableSet& trainable,
                                         const UnlearnData& data, int64_t hook_layer)
    : options_(options),
      groups_(groups),
      model_(model),
      selection_(selection),
      trainable_(trainable),
      data_(data),
      anchor_(options.unlearn.anchor_weight > 0 && !selection.experts.empty()),
      forget_sampler_(data.forget->size(), options.training.per_device_train_batch_size,
                      groups.world_size(), options.training.seed) {
  const TrainingConfig& t = options.training;
  const UnlearnConfig& u = options.unlearn;
  if (method_uses_retain(u)) {
    UOE_CHECK(data.retain, "unlearn.method=", to_string(u.method),
              " needs dataset.retain (or retain_weight=0 for npo/simnpo)");
    retain_sampler_ = std::make_unique<GlobalBatchSampler>(
        data.retain->size(), t.per_device_train_batch_size, groups.world_size(), t.seed + 1);
  }
  switch (u.method) {
    case UnlearnMethod::kGa:
    case UnlearnMethod::kGdiff:
      forget_ = std::make_unique<NllTerm>(/*ascent=*/true);
      break;
    case UnlearnMethod::kNpo:
      forget_ = std::make_unique<NpoTerm>(model, *data.forget, groups,
                                          t.per_device_train_batch_size, u.npo_beta);
      break;
    case UnlearnMethod::kSimNpo:
      forget_ = std::make_unique<SimNpoTerm>(u.simnpo_beta, u.simnpo_delta);
      break;
    case UnlearnMethod::kRmu:
      forget_ = std::make_unique<RmuForgetTerm>(
          rmu_target(model->config().hidden_size, u.rmu_steering, t.seed), hook_layer,
          model->device());
      break;
  }
  if (retain_sampler_) {
    retain_ = u.method == UnlearnMethod::kRmu
                  ? std::unique_ptr<UnlearnTerm>(
                        std::make_unique<RmuRetainTerm>(trainable, hook_layer, u.rmu_retain_alpha))
                  : std::make_unique<NllTerm>(/*ascent=*/false);
  }
}

std::string UnlearningObjective::label() const {
  return std::string("unlearn ") + to_string(options_.unlearn.method);
}

std::vector<TrainingPass> UnlearningObjective::passes(int64_t first, int64_t count) const {
  const int rank = groups_.rank();
  const torch::Device device = model_->device();
  std::vector<TrainingPass> out;
  for (int64_t m = 0; m < count; ++m) {
    out.push_back({make_batch(*data_.forget, forget_sampler_.rank_indices(first + m, rank), device),
                   kForgetPass});
  }
  for (int64_t m = 0; m < count && retain_sampler_; ++m) {
    out.push_back(
        {make_batch(*data_.retain, retain_sampler_->rank_indices(first + m, rank), device),
         kRetainPass});
  }
  return out;
}

torch::Tensor UnlearningObjective::local_counts(const std::vector<TrainingPass>& passes) const {
  auto counts = torch::zeros({6}, torch::kFloat64);  // UnlearnCount order
  for (const auto& pass : passes) {
    const BatchCounts& c = pass.batch.counts;
    if (pass.term == kForgetPass) {
      counts[0] += double(c.scored_tokens);
      counts[1] += double(c.valid_tokens);
      counts[2] += double(c.scored_rows);
    } else {
      counts[3] += double(c.scored_tokens);
      counts[4] += double(c.valid_tokens);
    }
    counts[5] += double(c.valid_rows);
  }
  return counts;
}

double UnlearningObjective::valid_tokens(const torch::Tensor& counts) const {
  return counts[1].item<double>() + counts[4].item<double>();
}

double UnlearningObjective::valid_sequences(const torch::Tensor& counts) const {
  return counts[5].item<double>();
}

PassLoss UnlearningObjective::forward(CausalLM& model, const TrainingPass& pass,
                                      const torch::Tensor& counts, torch::Tensor& parts) {
  const TokenBatch& b = pass.batch;
  if (pass.term == kRetainPass) {
    UnlearnTerm::Result retain = retain_->forward(model, b, counts);
    parts[1] += retain.loss.detach();
    return {options_.unlearn.retain_weight * retain.loss, std::move(retain.out.moe)};
  }
  UnlearnTerm::Result forget = forget_->forward(model, b, counts);
  torch::Tensor total = forget.loss;
  parts[0] += forget.loss.detach();
  if (anchor_) {
    torch::Tensor anchor_loss = torch::zeros({}, b.valid.options().dtype(torch::kFloat32));
    for (const auto& target : selection_.experts) {
      anchor_loss = anchor_loss + anchor_loss_sum(forget.out.moe.at(target.layer).routing.probs,
                                                  b.valid, target.expert);
    }
    anchor_loss = anchor_loss / (global_count(counts, UnlearnCount::kForgetValid) *
                                 double(selection_.experts.size()));
    parts[2] += anchor_loss.detach();
    total = total + options_.unlearn.anchor_weight * anchor_loss;
  }
  if (!selection_.experts.empty()) {
    const auto& first = selection_.experts.front();
    parts.narrow(0, 3, 2) += target_selection_counts(
        forget.out.moe.at(first.layer).routing.topk_ids, b.valid, first.expert);
  }
  return {total, std::move(forget.out.moe)};
}

StepReport UnlearningObjective::end_step(int64_t, const torch::Tensor& parts,
                                         const torch::Tensor& counts) {
  const TrainingConfig& t = options_.training;
  const UnlearnConfig& u = options_.unlearn;
  const bool use_retain = bool(retain_);
  const double forget_loss = parts[0].item<double>(), retain_loss = parts[1].item<double>(),
               anchor_loss = parts[2].item<double>();
  const double aux_loss = parts[5].item<double>(), z_loss = parts[6].item<double>();
  const double loss = forget_loss + (use_retain ? u.retain_weight * retain_loss : 0.0) +
                      (anchor_ ? u.anchor_weight * anchor_loss : 0.0) +
                      t.router_aux_loss_coef * aux_loss + t.router_z_loss_coef * z_loss;
  StepReport report;
  report.record = {{"loss", loss}, {"forget_loss", forget_loss}};
  report.losses = {{"forget", forget_loss}};
  if (use_retain) {
    report.record["retain_loss"] = retain_loss;
    report.losses["retain"] = retain_loss;
  }
  if (anchor_) {
    report.record["anchor_loss"] = anchor_loss;
    report.losses["anchor"] = anchor_loss;
  }
  if (!selection_.experts.empty()) {
    report.record["target_selection_rate"] =
        parts[3].item<double>() / std::max(parts[4].item<double>(), 1.0);
  }
  report.tokens = int64_t(valid_tokens(counts));
  return report;
}

void UnlearningObjective::save_model(const std::string& dir) const {
  const nlohmann::json provenance = {{"method", to_string(options_.unlearn.method)},
                                     {"target", selection_.to_json()},
                                     {"config_hash", options_.config_hash}};
  save_delta(dir + "/delta.h5", model_, groups_, trainable_.names, provenance);
}

void UnlearningObjective::load_model(const std::string& dir) {
  apply_delta(dir + "/delta.h5", model_);
}

}  // namespace uoe
