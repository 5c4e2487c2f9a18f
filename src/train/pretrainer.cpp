#include "train/pretrainer.h"

#include "common/check.h"
#include "common/log.h"
#include "train/distributed_optimizer.h"
#include "train/lr_schedule.h"
#include "train/progress.h"

namespace uoe {

nlohmann::json run_pretraining(const RunConfig& config, const ProcessGroups& groups,
                               CausalLM& model) {
  const TrainingConfig& t = config.training;
  model->set_all_trainable();
  DistributedOptimizer optimizer({model->dense_parameters(), model->expert_parameters()}, t,
                                 groups);
  LrSchedule schedule{t.lr_scheduler_type, t.learning_rate,
                      resolve_warmup_steps(t.warmup_steps, t.warmup_ratio, t.max_steps),
                      t.max_steps};
  SyntheticCorpus corpus(config.data);
  const int64_t batch = t.per_device_train_batch_size;
  const int64_t world = groups.world_size();
  const int64_t micro_steps = t.gradient_accumulation_steps;
  const int64_t tokens_per_step = world * batch * micro_steps * config.data.seq_len;

  ProgressLogger progress("pretrain", t.max_steps,
                          groups.rank() == 0 ? t.output_dir + "/metrics.jsonl" : "");
  double first_loss = 0.0, last_loss = 0.0, interval_loss = 0.0;
  int64_t interval_steps = 0;
  double interval_start = progress.elapsed_seconds();
  for (int64_t step = 0; step < t.max_steps; ++step) {
    optimizer.zero_grad();
    auto loss_sum = torch::zeros({1}, torch::kFloat64);  // this rank's token-summed NLL
    for (int64_t micro = 0; micro < micro_steps; ++micro) {
      const int64_t first = ((step * micro_steps + micro) * world + groups.rank()) * batch;
      auto tokens = corpus.sequences(first, batch);  // [B, S+1]
      auto inputs = tokens.narrow(1, 0, config.data.seq_len);
      auto labels = tokens.narrow(1, 1, config.data.seq_len);
      auto out = model->forward(inputs);
      auto nll = token_nll_sum(out.logits, labels, torch::ones_like(labels));
      // Normalised by the global token count: summing gradients over replicas then gives the
      // gradient of the global token mean for any layout.
      (nll / double(tokens_per_step)).backward();
      loss_sum += nll.detach().to(torch::kFloat64);
    }
    const double grad_norm = optimizer.step(schedule.at(step));
    groups.world()->all_reduce(loss_sum, ReduceOp::kSum);
    const double loss = loss_sum.item<double>() / double(tokens_per_step);
    UOE_CHECK(std::isfinite(loss), "pretrain: loss became ", loss, " at step ", step + 1,
              "; lower learning_rate");
    if (step == 0) first_loss = loss;
    last_loss = loss;
    interval_loss += loss;
    ++interval_steps;
    if ((step + 1) % t.logging_steps == 0 || step + 1 == t.max_steps) {
      const double now = progress.elapsed_seconds();
      progress.log(step + 1, {{"loss", interval_loss / double(interval_steps)},
                              {"step_loss", loss},
                              {"lr", schedule.at(step)},
                              {"grad_norm", grad_norm},
                              {"tokens_per_s", double(tokens_per_step * interval_steps) /
                                                   std::max(now - interval_start, 1e-9)}});
      interval_loss = 0.0;
      interval_steps = 0;
      interval_start = now;
    }
  }
  const double wall = progress.elapsed_seconds();
  return {{"command", "pretrain"},
          {"steps", t.max_steps},
          {"initial_loss", first_loss},
          {"final_loss", last_loss},
          {"tokens", tokens_per_step * t.max_steps},
          {"wall_s", wall},
          {"tokens_per_s", double(tokens_per_step * t.max_steps) / std::max(wall, 1e-9)},
          {"trainable_elements_per_rank", optimizer.num_trainable_elements()},
          {"optimizer_state_bytes_per_rank", optimizer.state_bytes()}};
}

}  // namespace uoe
