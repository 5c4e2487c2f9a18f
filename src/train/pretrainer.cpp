#include "train/pretrainer.h"

#include "common/check.h"
#include "common/log.h"
#include "checkpoint/checkpoint.h"
#include "data/token_dataset.h"
#include "train/balancing_loss.h"
#include "train/batching.h"
#include "train/distributed_optimizer.h"
#include "train/lr_schedule.h"
#include "train/progress.h"
#include "train/step_breakdown.h"
#include "train/training_checkpoint.h"

namespace uoe {
namespace {

// Where the pretraining batches come from: the synthetic corpus (every token scored) or a token
// dataset (its loss mask). Both give rank `rank` its block of global micro-batch `micro_step`.
class BatchSource {
 public:
  BatchSource(const RunConfig& config, const ProcessGroups& groups)
      : batch_(config.training.per_device_train_batch_size), groups_(groups) {
    if (config.dataset.train.empty()) {
      corpus_ = std::make_unique<SyntheticCorpus>(config.data);
      seq_len_ = config.data.seq_len;
    } else {
      dataset_ = std::make_unique<TokenDataset>(config.dataset.train);
      UOE_CHECK(dataset_->vocab_size() <= config.model.vocab_size, "dataset.train '",
                config.dataset.train, "' has vocab_size ", dataset_->vocab_size(),
                " > model.vocab_size=", config.model.vocab_size);
      sampler_ = std::make_unique<GlobalBatchSampler>(dataset_->size(), batch_,
                                                      groups.world_size(), config.training.seed);
    }
  }

  // Micro-steps per epoch (the synthetic corpus is unbounded: 0).
  int64_t steps_per_epoch() const { return sampler_ ? sampler_->steps_per_epoch() : 0; }

  TokenBatch get(int64_t micro_step) const {
    if (dataset_) return make_batch(*dataset_, sampler_->rank_indices(micro_step, groups_.rank()));
    const int64_t first = (micro_step * groups_.world_size() + groups_.rank()) * batch_;
    auto tokens = corpus_->sequences(first, batch_);  // [B, S+1]
    TokenBatch b;
    b.input_ids = tokens.narrow(1, 0, seq_len_);
    b.labels = tokens.narrow(1, 1, seq_len_);
    b.loss_mask = torch::ones({batch_, seq_len_});
    b.valid = torch::ones({batch_, seq_len_});
    return b;
  }

 private:
  int64_t batch_, seq_len_ = 0;
  const ProcessGroups& groups_;
  std::unique_ptr<SyntheticCorpus> corpus_;
  std::unique_ptr<TokenDataset> dataset_;
  std::unique_ptr<GlobalBatchSampler> sampler_;
};

}  // namespace

nlohmann::json run_pretraining(const RunConfig& config, const ProcessGroups& groups,
                               CausalLM& model) {
  const TrainingConfig& t = config.training;
  BatchSource source(config, groups);
  const int64_t micro_steps = t.gradient_accumulation_steps;
  UOE_CHECK(t.max_steps > 0 || source.steps_per_epoch() > 0,
            "num_train_epochs needs dataset.train (the synthetic corpus has no epochs); set "
            "max_steps");
  const int64_t max_steps =
      resolve_total_steps(t.max_steps, t.num_train_epochs, source.steps_per_epoch(), micro_steps);
  model->set_all_trainable();
  DistributedOptimizer optimizer({model->dense_parameters(), model->expert_parameters()}, t,
                                 groups);
  LrSchedule schedule{t.lr_scheduler_type, t.learning_rate,
                      resolve_warmup_steps(t.warmup_steps, t.warmup_ratio, max_steps), max_steps};

  LoadBalancingLoss balance(load_balancing_options(t, config.model), groups.world().data);
  TrainingCheckpointer checkpointer(t, groups);
  double first_loss = 0.0, last_loss = 0.0, interval_loss = 0.0;
  int64_t interval_steps = 0, total_tokens = 0, interval_tokens = 0, start_step = 0;
  int64_t session_tokens = 0;  // tokens of this process (a resumed run counts from its restart)
  if (auto dir = checkpointer.resume_dir()) {
    load_checkpoint(*dir + "/model", model);
    const auto state = checkpointer.load(*dir, optimizer);
    start_step = state["step"].get<int64_t>();
    first_loss = state["loop"]["first_loss"].get<double>();
    last_loss = state["loop"]["last_loss"].get<double>();
    total_tokens = state["loop"]["tokens"].get<int64_t>();
    log0("resuming from ", *dir, " after step ", start_step, " of ", max_steps);
  }
  const auto write_model = [&](const std::string& dir) { save_checkpoint(dir + "/model", model, groups); };
  ProgressLogger progress("pretrain", max_steps,
                          groups.rank() == 0 ? t.output_dir + "/metrics.jsonl" : "", start_step + 1);
  StepBreakdown breakdown(config.profile.breakdown, model, groups, t.output_dir, start_step + 1);
  StepProfiler* const profiler = breakdown.profiler();  // null when profile.breakdown is off
  double interval_start = progress.elapsed_seconds();
  for (int64_t step = start_step; step < max_steps; ++step) {
    breakdown.start_step();
    optimizer.zero_grad();
    std::vector<TokenBatch> batches;
    for (int64_t m = 0; m < micro_steps; ++m) batches.push_back(source.get(step * micro_steps + m));
    // Scored tokens, valid tokens and sequences of the whole global step: each rank's token sum
    // is divided by them, so summing gradients over replicas gives the gradient of the global
    // token mean for any layout.
    auto global = torch::zeros({3}, torch::kFloat64);
    for (const auto& b : batches) {
      global[0] += b.loss_mask.sum().to(torch::kFloat64);
      global[1] += b.valid.sum().to(torch::kFloat64);
      global[2] += (b.valid.sum(1) > 0).sum().to(torch::kFloat64);
    }
    groups.world().control->all_reduce(global, ReduceOp::kSum);
    const double scored = std::max(global[0].item<double>(), 1.0);
    balance.start_step(micro_steps, global[1].item<double>(), global[2].item<double>());
    if (balance.needs_counting_pass()) {
      balance.counting_pass(model, batches, profiler);
    }
    auto counts = torch::zeros({3}, torch::kFloat64);  // [nll sum, aux loss, z loss]
    for (const auto& b : batches) {
      torch::Tensor nll, total;
      {
        const StepProfiler::Scope timer(profiler, "forward");
        auto out = model->forward(b.input_ids);
        nll = token_nll_sum(out.logits, b.labels, b.loss_mask);
        total = nll / scored;
        if (balance.enabled()) total = total + balance.loss(out.moe, b.valid);
      }
      {
        const StepProfiler::Scope timer(profiler, "backward");
        total.backward();
      }
      counts[0] += nll.detach().to(torch::kFloat64);
    }
    counts[1] = balance.aux_part();
    counts[2] = balance.z_part();
    const double grad_norm = optimizer.step(schedule.at(step), profiler);
    balance.update_router_bias(model);
    groups.world().control->all_reduce(counts, ReduceOp::kSum);
    const double loss = counts[0].item<double>() / scored;
    if (step == 0) first_loss = loss;
    last_loss = loss;
    interval_loss += loss;
    ++interval_steps;
    total_tokens += int64_t(scored);
    session_tokens += int64_t(scored);
    interval_tokens += int64_t(scored);
    breakdown.end_step(step + 1);
    if ((step + 1) % t.logging_steps == 0 || step + 1 == max_steps) {
      const double now = progress.elapsed_seconds();
      nlohmann::json record = {
          {"loss", interval_loss / double(interval_steps)},
          {"step_loss", loss},
          {"lr", schedule.at(step)},
          {"grad_norm", grad_norm},
          {"tokens_per_s", double(interval_tokens) / std::max(now - interval_start, 1e-9)}};
      if (t.router_aux_loss_coef > 0) record["aux_loss"] = counts[1].item<double>();
      if (t.router_z_loss_coef > 0) record["z_loss"] = counts[2].item<double>();
      record.update(breakdown.load_metrics());
      progress.log(step + 1, record);
      interval_loss = 0.0;
      interval_steps = 0;
      interval_tokens = 0;
      interval_start = now;
    }
    checkpointer.end_of_step(step + 1, {{"training", loss}}, grad_norm, write_model, optimizer,
                             {{"first_loss", first_loss}, {"last_loss", last_loss}, {"tokens", total_tokens}});
  }
  const nlohmann::json breakdown_summary = breakdown.finish();
  const double wall = progress.elapsed_seconds();
  if (t.save_full_model) save_checkpoint(t.output_dir + "/checkpoint", model, groups);
  return {{"command", "pretrain"},
          {"steps", max_steps},
          {"initial_loss", first_loss},
          {"final_loss", last_loss},
          {"tokens", total_tokens},
          {"wall_s", wall},
          {"tokens_per_s", double(session_tokens) / std::max(wall, 1e-9)},
          {"resumed_from_step", start_step},
          {"trainable_elements_per_rank", optimizer.num_trainable_elements()},
          {"optimizer_state_bytes_per_rank", optimizer.state_bytes()},
          {"breakdown", breakdown_summary}};
}

}  // namespace uoe
