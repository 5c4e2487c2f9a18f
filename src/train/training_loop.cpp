#include "train/training_loop.h"

#include <chrono>

#include "common/check.h"
#include "common/log.h"
#include "train/balancing_loss.h"
#include "train/distributed_optimizer.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/step_breakdown.h"
#include "train/training_checkpoint.h"

namespace uoe {

nlohmann::json run_training_loop(const TrainingConfig& t, bool breakdown_enabled,
                                 const ProcessGroups& groups, CausalLM& model,
                                 GradientGroups trainable, TrainingObjective& objective) {
  const int64_t micro_steps = t.gradient_accumulation_steps;
  const int64_t max_steps = resolve_total_steps(t.max_steps, t.num_train_epochs,
                                                objective.micro_steps_per_epoch(), micro_steps);
  model->set_gradient_checkpointing(t.gradient_checkpointing);
  DistributedOptimizer optimizer(std::move(trainable), t, groups);
  LrSchedule schedule{t.lr_scheduler_type, t.learning_rate,
                      resolve_warmup_steps(t.warmup_steps, t.warmup_ratio, max_steps), max_steps};
  LoadBalancingLoss balance(load_balancing_options(t, model->config()), groups.world().data);
  TrainingCheckpointer checkpointer(t, groups);
  nlohmann::json last;  // the last step's record (without the load metrics)
  int64_t start_step = 0, total_tokens = 0;
  if (auto dir = checkpointer.resume_dir()) {
    objective.load_model(*dir);
    const auto state = checkpointer.load(*dir, optimizer);
    start_step = state["step"].get<int64_t>();
    const nlohmann::json& loop = state["loop"];
    objective.restore(loop);
    last = loop.value("last", nlohmann::json());
    total_tokens = loop.value("tokens", int64_t(0));
    log0("resuming from ", *dir, " after step ", start_step, " of ", max_steps);
  }
  const auto write_model = [&](const std::string& dir) { objective.save_model(dir); };
  const std::string metrics_path = groups.rank() == 0 ? t.output_dir + "/metrics.jsonl" : "";
  ProgressLogger progress(objective.label(), max_steps, metrics_path, start_step + 1);
  StepBreakdown breakdown(breakdown_enabled, model, groups, t.output_dir, start_step + 1);
  StepProfiler* const profiler = breakdown.profiler();  // null when profile.breakdown is off
  const int64_t aux_index = objective.num_parts(), z_index = aux_index + 1;
  double step_seconds = 0.0;  // this process's steps (a resumed run counts from its restart)
  double interval_start = progress.elapsed_seconds();
  int64_t session_tokens = 0, interval_tokens = 0;
  for (int64_t step = start_step; step < max_steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    breakdown.start_step();
    optimizer.zero_grad();
    const std::vector<TrainingPass> passes = objective.passes(step * micro_steps, micro_steps);
    torch::Tensor counts = objective.local_counts(passes);
    groups.world().control->all_reduce(counts, ReduceOp::kSum);
    // The balancing losses cover every trained forward pass of the step.
    balance.start_step(int64_t(passes.size()), objective.valid_tokens(counts),
                       objective.valid_sequences(counts));
    if (balance.needs_counting_pass()) {
      std::vector<TokenBatch> batches;
      for (const auto& pass : passes) batches.push_back(pass.batch);
      balance.counting_pass(model, batches, profiler);
    }
    // The reported parts add up on the model's device: read back once, after the optimizer step.
    auto parts = torch::zeros({z_index + 1}, torch::dtype(torch::kFloat64).device(model->device()));
    for (const auto& pass : passes) {
      torch::Tensor total;
      {
        const StepProfiler::Scope timer(profiler, "forward");
        PassLoss pass_loss = objective.forward(model, pass, counts, parts);
        total = pass_loss.loss;
        if (balance.enabled()) total = total + balance.loss(pass_loss.moe, pass.batch.valid);
      }
      const StepProfiler::Scope timer(profiler, "backward");
      total.backward();
      optimizer.accumulate_gradients();
    }
    if (balance.enabled()) {
      parts[aux_index] = balance.aux_part();
      parts[z_index] = balance.z_part();
    }
    const double lr = schedule.at(step);
    const double grad_norm = optimizer.step(lr, profiler);
    balance.update_router_bias(model);
    UOE_ASSERT(!parts.requires_grad(), "an objective added a loss with its graph to the parts");
    parts = parts.to(torch::kCPU);  // [num_parts + 2]: the control channel takes host tensors
    groups.world().control->all_reduce(parts, ReduceOp::kSum);
    step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    StepReport report = objective.end_step(step, parts, counts);
    total_tokens += report.tokens;
    session_tokens += report.tokens;
    interval_tokens += report.tokens;
    const double now = progress.elapsed_seconds();
    last = report.record;
    last["lr"] = lr;
    last["grad_norm"] = grad_norm;
    if (t.router_aux_loss_coef > 0) last["aux_loss"] = parts[aux_index].item<double>();
    if (t.router_z_loss_coef > 0) last["z_loss"] = parts[z_index].item<double>();
    last["tokens_per_s"] = double(interval_tokens) / std::max(now - interval_start, 1e-9);
    breakdown.end_step(step + 1);
    if ((step + 1) % t.logging_steps == 0 || step + 1 == max_steps) {
      nlohmann::json record = last;
      record.update(breakdown.load_metrics());
      progress.log(step + 1, record);
      objective.logged();
      interval_tokens = 0;
      interval_start = now;
    }
    nlohmann::json loop_state = objective.loop_state();
    loop_state["tokens"] = total_tokens;
    loop_state["last"] = last;
    checkpointer.end_of_step(step + 1, report.losses, grad_norm, write_model, optimizer,
                             loop_state);
  }
  const nlohmann::json breakdown_summary = breakdown.finish();
  const double wall = progress.elapsed_seconds();
  // With expert parallelism the rank that owns a trained expert holds the most; report the
  // maximum next to this rank's values.
  auto maxima = torch::tensor({optimizer.num_trainable_elements(), optimizer.state_bytes()});
  groups.world().control->all_reduce(maxima, ReduceOp::kMax);
  nlohmann::json summary = {
      {"steps", max_steps},
      {"final", last},
      {"step_time_s", step_seconds / double(std::max<int64_t>(max_steps - start_step, 1))},
      {"wall_s", wall},
      {"tokens", total_tokens},
      {"tokens_per_s", double(session_tokens) / std::max(wall, 1e-9)},
      {"resumed_from_step", start_step},
      {"trainable_elements_per_rank", optimizer.num_trainable_elements()},
      {"optimizer_state_bytes_per_rank", optimizer.state_bytes()},
      {"trainable_elements_max_rank", maxima[0].item<int64_t>()},
      {"optimizer_state_bytes_max_rank", maxima[1].item<int64_t>()},
      {"breakdown", breakdown_summary}};
  summary.update(objective.summary());
  return summary;
}

}  // namespace uoe
