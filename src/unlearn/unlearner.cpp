#include "unlearn/unlearner.h"

#include <chrono>
#include <cmath>

#include "common/check.h"
#include "common/log.h"
#include "checkpoint/checkpoint.h"
#include "train/balancing_loss.h"
#include "train/batching.h"
#include "train/distributed_optimizer.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/step_breakdown.h"
#include "train/training_checkpoint.h"
#include "eval/evaluation.h"
#include "unlearn/objectives.h"

namespace uoe {

bool method_uses_retain(const UnlearnConfig& config) {
  if (config.method == "gdiff" || config.method == "rmu") return true;
  return (config.method == "npo" || config.method == "simnpo") && config.retain_weight > 0;
}

namespace {

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
  auto with_frozen(Fn fn) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> trained;
    for (auto& [param, frozen] : pairs_) {
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

}  // namespace

nlohmann::json run_unlearning(const RunConfig& config, const ProcessGroups& groups,
                              CausalLM& model, const Selection& selection,
                              const TrainableSet& trainable, const UnlearnData& data,
                              int64_t hook_layer) {
  const TrainingConfig& t = config.training;
  const UnlearnConfig& u = config.unlearn;
  const bool use_retain = method_uses_retain(u);
  UOE_CHECK(data.forget, "unlearning needs dataset.forget");
  UOE_CHECK(!use_retain || data.retain, "unlearn.method=", u.method,
            " needs dataset.retain (or retain_weight=0 for npo/simnpo)");
  const bool anchor = u.anchor_weight > 0 && !selection.experts.empty();
  const int64_t batch = t.per_device_train_batch_size;
  const int world = groups.world_size();
  GlobalBatchSampler forget_sampler(data.forget->size(), batch, world, t.seed);
  std::unique_ptr<GlobalBatchSampler> retain_sampler;
  if (use_retain) {
    retain_sampler = std::make_unique<GlobalBatchSampler>(data.retain->size(), batch, world, t.seed + 1);
  }
  const int64_t micro_steps = t.gradient_accumulation_steps;
  const int64_t max_steps = resolve_total_steps(t.max_steps, t.num_train_epochs,
                                                forget_sampler.steps_per_epoch(), micro_steps);

  torch::Tensor ref_logp;
  if (u.method == "npo") ref_logp = answer_log_probs(model, *data.forget, groups, batch);
  std::unique_ptr<FrozenParameters> frozen;
  torch::Tensor rmu_direction;
  if (u.method == "rmu") {
    frozen = std::make_unique<FrozenParameters>(trainable);
    rmu_direction = rmu_target(model->config().hidden_size, u.rmu_steering, t.seed);
  }
  const int64_t capture = u.method == "rmu" ? hook_layer : -1;

  DistributedOptimizer optimizer({trainable.dense, trainable.expert}, t, groups);
  LrSchedule schedule{t.lr_scheduler_type, t.learning_rate,
                      resolve_warmup_steps(t.warmup_steps, t.warmup_ratio, max_steps), max_steps};
  // Resuming happens after the reference log-probs and frozen values above were taken from the
  // original model, and restores the trained tensors and the optimizer.
  UOE_CHECK(t.moe_router_bias_update_rate == 0,
            "moe_router_bias_update_rate applies to uoe pretrain only (unlearning leaves every "
            "router bias unchanged), got ", t.moe_router_bias_update_rate);
  LoadBalancingLoss balance(load_balancing_options(t, model->config()), groups.world().data);
  TrainingCheckpointer checkpointer(t, groups);
  nlohmann::json last;
  int64_t start_step = 0;
  if (auto dir = checkpointer.resume_dir()) {
    apply_delta(*dir + "/delta.h5", model);
    const auto state = checkpointer.load(*dir, optimizer);
    start_step = state["step"].get<int64_t>();
    last = state["loop"]["last"];
    log0("resuming from ", *dir, " after step ", start_step, " of ", max_steps);
  }
  const nlohmann::json provenance = {
      {"method", u.method}, {"target", selection.to_json()}, {"config_hash", config.config_hash}};
  const auto write_model = [&](const std::string& dir) {
    save_delta(dir + "/delta.h5", model, groups, trainable.names, provenance);
  };
  ProgressLogger progress("unlearn " + u.method, max_steps,
                          groups.rank() == 0 ? t.output_dir + "/metrics.jsonl" : "", start_step + 1);
  StepBreakdown breakdown(config.profile.breakdown, model, groups, t.output_dir, start_step + 1);
  StepProfiler* const profiler = breakdown.profiler();  // null when profile.breakdown is off
  double step_seconds = 0.0;  // this process's steps (a resumed run counts from its restart)
  for (int64_t step = start_step; step < max_steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    breakdown.start_step();
    optimizer.zero_grad();
    std::vector<TokenBatch> forget_batches, retain_batches;
    for (int64_t m = 0; m < micro_steps; ++m) {
      forget_batches.push_back(
          make_batch(*data.forget, forget_sampler.rank_indices(step * micro_steps + m, groups.rank())));
      if (use_retain) {
        retain_batches.push_back(make_batch(
            *data.retain, retain_sampler->rank_indices(step * micro_steps + m, groups.rank())));
      }
    }
    // Global counts: [forget scored, forget valid, forget sequences, retain scored, retain valid,
    // sequences with a valid token (forget and retain)].
    auto counts = torch::zeros({6}, torch::kFloat64);
    for (const auto& b : forget_batches) {
      counts[0] += b.loss_mask.sum().to(torch::kFloat64);
      counts[1] += b.valid.sum().to(torch::kFloat64);
      counts[2] += (b.loss_mask.sum(1) > 0).sum().to(torch::kFloat64);
    }
    for (const auto& b : retain_batches) {
      counts[3] += b.loss_mask.sum().to(torch::kFloat64);
      counts[4] += b.valid.sum().to(torch::kFloat64);
    }
    for (const auto* batches : {&forget_batches, &retain_batches}) {
      for (const auto& b : *batches) counts[5] += (b.valid.sum(1) > 0).sum().to(torch::kFloat64);
    }
    groups.world().control->all_reduce(counts, ReduceOp::kSum);
    auto global = [&](int i) { return std::max(counts[i].item<double>(), 1.0); };
    // The balancing losses cover every trained forward pass: forget and retain micro-batches.
    balance.start_step(int64_t(forget_batches.size() + retain_batches.size()),
                       counts[1].item<double>() + counts[4].item<double>(), counts[5].item<double>());
    if (balance.needs_counting_pass()) {
      std::vector<TokenBatch> all = forget_batches;
      all.insert(all.end(), retain_batches.begin(), retain_batches.end());
      balance.counting_pass(model, all, profiler);
    }

    // Reported parts: [forget loss, retain loss, anchor loss, target hits, target tokens, aux loss,
    // z loss].
    auto parts = torch::zeros({7}, torch::kFloat64);
    for (const auto& b : forget_batches) {
      CausalLMOutput out;
      {
        const StepProfiler::Scope timer(profiler, "forward");
        out = model->forward(b.input_ids, capture);
      }
      torch::Tensor forget_loss;
      if (u.method == "ga" || u.method == "gdiff") {
        forget_loss = -token_nll_sum(out.logits, b.labels, b.loss_mask) / global(0);
      } else if (u.method == "npo") {
        std::vector<int64_t> rows(b.indices.begin(), b.indices.end());
        auto ref = rows.empty() ? torch::zeros({1}, torch::kFloat64)
                                : ref_logp.index_select(0, torch::tensor(rows, torch::kInt64));
        forget_loss = npo_loss_sum(sequence_log_probs(out.logits, b.labels, b.loss_mask),
                                   ref.to(torch::kFloat32), u.npo_beta) / global(2);
      } else if (u.method == "simnpo") {
        forget_loss = simnpo_loss_sum(sequence_log_probs(out.logits, b.labels, b.loss_mask),
                                      u.simnpo_beta, u.simnpo_delta) / global(2);
      } else {  // rmu
        forget_loss = rmu_forget_sum(out.captured_hidden, b.valid, rmu_direction) / global(1);
      }
      torch::Tensor total = forget_loss;
      parts[0] += forget_loss.item<double>();
      if (anchor) {
        torch::Tensor anchor_loss = torch::zeros({}, torch::kFloat32);
        for (const auto& target : selection.experts) {
          anchor_loss = anchor_loss + anchor_loss_sum(out.moe.at(target.layer).routing.probs,
                                                      b.valid, target.expert);
        }
        anchor_loss = anchor_loss / (global(1) * double(selection.experts.size()));
        parts[2] += anchor_loss.item<double>();
        total = total + u.anchor_weight * anchor_loss;
      }
      if (!selection.experts.empty()) {
        const auto& first = selection.experts.front();
        auto [hits, tokens] = target_selection_counts(out.moe.at(first.layer).routing.topk_ids,
                                                      b.valid, first.expert);
        parts[3] += hits;
        parts[4] += tokens;
      }
      if (balance.enabled()) total = total + balance.loss(out.moe, b.valid);
      const StepProfiler::Scope timer(profiler, "backward");
      total.backward();
    }
    for (const auto& b : retain_batches) {
      torch::Tensor retain_loss, balance_loss = torch::zeros({});
      {
        const StepProfiler::Scope forward_timer(profiler, "forward");
        const int64_t capture_retain = u.method == "rmu" ? hook_layer : -1;
        torch::Tensor frozen_hidden;
        if (u.method == "rmu") {
          frozen_hidden = frozen->with_frozen(
              [&] { return model->forward(b.input_ids, hook_layer).captured_hidden; });
        }
        auto out = model->forward(b.input_ids, capture_retain);
        if (u.method == "rmu") {
          retain_loss = u.rmu_retain_alpha *
                        rmu_retain_sum(out.captured_hidden, frozen_hidden, b.valid) / global(4);
        } else {
          retain_loss = token_nll_sum(out.logits, b.labels, b.loss_mask) / global(3);
        }
        if (balance.enabled()) balance_loss = balance.loss(out.moe, b.valid);
      }
      parts[1] += retain_loss.item<double>();
      const StepProfiler::Scope timer(profiler, "backward");
      (u.retain_weight * retain_loss + balance_loss).backward();
    }
    parts[5] = balance.aux_part();
    parts[6] = balance.z_part();
    const double lr = schedule.at(step);
    const double grad_norm = optimizer.step(lr, profiler);
    groups.world().control->all_reduce(parts, ReduceOp::kSum);
    step_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double forget_loss = parts[0].item<double>(), retain_loss = parts[1].item<double>(),
                 anchor_loss = parts[2].item<double>();
    const double aux_loss = parts[5].item<double>(), z_loss = parts[6].item<double>();
    const double loss = forget_loss + (use_retain ? u.retain_weight * retain_loss : 0.0) +
                        (anchor ? u.anchor_weight * anchor_loss : 0.0) +
                        t.router_aux_loss_coef * aux_loss + t.router_z_loss_coef * z_loss;
    last = {{"loss", loss}, {"forget_loss", forget_loss}, {"lr", lr}, {"grad_norm", grad_norm}};
    if (use_retain) last["retain_loss"] = retain_loss;
    if (anchor) last["anchor_loss"] = anchor_loss;
    if (t.router_aux_loss_coef > 0) last["aux_loss"] = aux_loss;
    if (t.router_z_loss_coef > 0) last["z_loss"] = z_loss;
    if (!selection.experts.empty()) {
      last["target_selection_rate"] = parts[3].item<double>() / std::max(parts[4].item<double>(), 1.0);
    }
    last["tokens_per_s"] = (counts[1].item<double>() + counts[4].item<double>()) /
                           std::max(step_seconds / double(step + 1 - start_step), 1e-9);
    std::map<std::string, double> losses = {{"forget", forget_loss}};
    if (use_retain) losses["retain"] = retain_loss;
    if (anchor) losses["anchor"] = anchor_loss;
    breakdown.end_step(step + 1);
    if ((step + 1) % t.logging_steps == 0 || step + 1 == max_steps) {
      nlohmann::json record = last;
      record.update(breakdown.load_metrics());
      progress.log(step + 1, record);
    }
    checkpointer.end_of_step(step + 1, losses, grad_norm, write_model, optimizer, {{"last", last}});
  }
  const nlohmann::json breakdown_summary = breakdown.finish();
  // The rank that owns the target expert holds the most; report it next to this rank's values.
  auto maxima = torch::tensor({optimizer.num_trainable_elements(), optimizer.state_bytes()});
  groups.world().control->all_reduce(maxima, ReduceOp::kMax);
  return {{"steps", max_steps},
          {"final", last},
          {"step_time_s", step_seconds / double(std::max<int64_t>(max_steps - start_step, 1))},
          {"resumed_from_step", start_step},
          {"trainable_elements_per_rank", optimizer.num_trainable_elements()},
          {"optimizer_state_bytes_per_rank", optimizer.state_bytes()},
          {"trainable_elements_max_rank", maxima[0].item<int64_t>()},
          {"optimizer_state_bytes_max_rank", maxima[1].item<int64_t>()},
          {"breakdown", breakdown_summary}};
}

}  // namespace uoe
