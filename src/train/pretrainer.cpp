#include "train/pretrainer.h"

#include "checkpoint/checkpoint.h"
#include "common/check.h"
#include "data/token_dataset.h"
#include "train/batching.h"
#include "train/training_loop.h"

namespace uoe {
namespace {

// Where the pretraining batches come from: the synthetic corpus (every token scored) or a token
// dataset (its loss mask). Both give rank `rank` its block of global micro-batch `micro_step`.
class BatchSource {
 public:
  BatchSource(const PretrainOptions& options, const ProcessGroups& groups, int64_t vocab_size)
      : batch_(options.training.per_device_train_batch_size), groups_(groups) {
    if (options.dataset_train.empty()) {
      corpus_ = std::make_unique<SyntheticCorpus>(options.data);
      seq_len_ = options.data.seq_len;
    } else {
      dataset_ = std::make_unique<TokenDataset>(options.dataset_train);
      UOE_CHECK(dataset_->vocab_size() <= vocab_size, "dataset.train '", options.dataset_train,
                "' has vocab_size ", dataset_->vocab_size(), " > model.vocab_size=", vocab_size);
      sampler_ = std::make_unique<GlobalBatchSampler>(dataset_->size(), batch_, groups.world_size(),
                                                      options.training.seed);
    }
  }

  // Micro-steps per epoch (the synthetic corpus is unbounded: 0).
  int64_t steps_per_epoch() const { return sampler_ ? sampler_->steps_per_epoch() : 0; }

  TokenBatch get(int64_t micro_step, const torch::Device& device) const {
    if (dataset_) {
      return make_batch(*dataset_, sampler_->rank_indices(micro_step, groups_.rank()), device);
    }
    const int64_t first = (micro_step * groups_.world_size() + groups_.rank()) * batch_;
    auto tokens = corpus_->sequences(first, batch_);  // [B, S+1]
    TokenBatch b;
    b.input_ids = tokens.narrow(1, 0, seq_len_);
    b.labels = tokens.narrow(1, 1, seq_len_);
    b.loss_mask = torch::ones({batch_, seq_len_});
    b.valid = torch::ones({batch_, seq_len_});
    b.count_on_host();
    return b.to(device);
  }

 private:
  int64_t batch_, seq_len_ = 0;
  const ProcessGroups& groups_;
  std::unique_ptr<SyntheticCorpus> corpus_;
  std::unique_ptr<TokenDataset> dataset_;
  std::unique_ptr<GlobalBatchSampler> sampler_;
};

// The LM loss: token NLL summed over this rank's scored tokens, divided by the step's global
// scored tokens. Counts: [scored tokens, valid tokens, sequences with a valid token]; parts:
// [NLL sum]. Checkpoints hold the whole model.
class LanguageModelObjective : public TrainingObjective {
 public:
  LanguageModelObjective(const PretrainOptions& options, const ProcessGroups& groups,
                         CausalLM& model)
      : source_(options, groups, model->config().vocab_size), groups_(groups), model_(model) {}

  const BatchSource& source() const { return source_; }

  std::string label() const override { return "pretrain"; }
  int64_t micro_steps_per_epoch() const override { return source_.steps_per_epoch(); }
  std::vector<TrainingPass> passes(int64_t first, int64_t count) const override {
    std::vector<TrainingPass> out;
    for (int64_t m = 0; m < count; ++m) out.push_back({source_.get(first + m, model_->device())});
    return out;
  }
  torch::Tensor local_counts(const std::vector<TrainingPass>& passes) const override {
    auto counts = torch::zeros({3}, torch::kFloat64);
    for (const auto& pass : passes) {
      const BatchCounts& c = pass.batch.counts;
      counts[0] += double(c.scored_tokens);
      counts[1] += double(c.valid_tokens);
      counts[2] += double(c.valid_rows);
    }
    return counts;
  }
  double valid_tokens(const torch::Tensor& counts) const override {
    return counts[1].item<double>();
  }
  double valid_sequences(const torch::Tensor& counts) const override {
    return counts[2].item<double>();
  }

  int64_t num_parts() const override { return 1; }
  PassLoss forward(CausalLM& model, const TrainingPass& pass, const torch::Tensor& counts,
                   torch::Tensor& parts) override {
    const TokenBatch& b = pass.batch;
    auto out = model->forward(b.input_ids);
    auto nll = token_nll_sum(out.logits, b.labels, b.loss_mask);
    parts[0] += nll.detach();
    return {nll / scored(counts), std::move(out.moe)};
  }
  StepReport end_step(int64_t step, const torch::Tensor& parts,
                      const torch::Tensor& counts) override {
    const double loss = parts[0].item<double>() / scored(counts);
    if (step == 0) first_loss_ = loss;
    last_loss_ = loss;
    interval_loss_ += loss;
    ++interval_steps_;
    return {{{"training", loss}},
            {{"loss", interval_loss_ / double(interval_steps_)}, {"step_loss", loss}},
            int64_t(scored(counts))};
  }
  void logged() override {
    interval_loss_ = 0.0;
    interval_steps_ = 0;
  }

  void save_model(const std::string& dir) const override {
    save_checkpoint(dir + "/model", model_, groups_);
  }
  void load_model(const std::string& dir) override { load_checkpoint(dir + "/model", model_); }
  nlohmann::json loop_state() const override {
    return {{"first_loss", first_loss_}, {"last_loss", last_loss_}};
  }
  void restore(const nlohmann::json& state) override {
    first_loss_ = state["first_loss"].get<double>();
    last_loss_ = state["last_loss"].get<double>();
  }
  nlohmann::json summary() const override {
    return {{"command", "pretrain"}, {"initial_loss", first_loss_}, {"final_loss", last_loss_}};
  }

 private:
  static double scored(const torch::Tensor& counts) {
    return std::max(counts[0].item<double>(), 1.0);
  }

  BatchSource source_;
  const ProcessGroups& groups_;
  CausalLM& model_;
  double first_loss_ = 0.0, last_loss_ = 0.0, interval_loss_ = 0.0;
  int64_t interval_steps_ = 0;
};

}  // namespace

nlohmann::json run_pretraining(const PretrainOptions& options, const ProcessGroups& groups,
                               CausalLM& model) {
  const TrainingConfig& t = options.training;
  LanguageModelObjective objective(options, groups, model);
  UOE_CHECK(t.max_steps > 0 || objective.source().steps_per_epoch() > 0,
            "num_train_epochs needs dataset.train (the synthetic corpus has no epochs); set "
            "max_steps");
  model->set_all_trainable();
  nlohmann::json summary =
      run_training_loop(t, options.profile.breakdown, groups, model,
                        {model->dense_parameters(), model->expert_parameters()}, objective);
  if (t.save_full_model) save_checkpoint(t.output_dir + "/checkpoint", model, groups);
  return summary;
}

}  // namespace uoe
