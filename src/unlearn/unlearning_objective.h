#pragma once
// The unlearning objective l_f + retain_weight * l_r + anchor_weight * L_anchor (DESIGN.md
// section 1) as the training loop's TrainingObjective (train/training_loop.h), composed once from
// unlearn.method:
//
//   method   forget term l_f                      retain term l_r (retain batches)
//   ga       -NLL / forget scored tokens          -
//   gdiff    -NLL / forget scored tokens          NLL / retain scored tokens
//   npo      NPO vs the cached reference log-probs / forget sequences; NLL retain when lambda > 0
//   simnpo   SimNPO / forget sequences            NLL retain when lambda > 0
//   rmu      ||h - c*u||^2 / forget valid tokens   alpha * ||h - h_frozen||^2 / retain valid tokens
//
// plus the router anchor (SEUF Eq. 3) on forget batches when anchor_weight > 0 and experts are
// selected. The normaliser of every term is one entry of the step's global counts (UnlearnCount),
// summed over the world by the loop's one all-reduce. What a term caches of the original model
// (NPO's reference log-probs, RMU's frozen trainable tensors) is taken when it is built, before
// the optimizer exists and before a resume restores trained tensors.
#include <memory>
#include <string>

#include "data/token_dataset.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"
#include "train/batching.h"
#include "train/training_loop.h"
#include "train/training_options.h"
#include "unlearn/selection.h"
#include "unlearn/unlearn_options.h"

namespace uoe {

struct UnlearnData {
  const TokenDataset* forget = nullptr;
  const TokenDataset* retain = nullptr;  // required by gdiff and rmu, and npo/simnpo with retain
};

// What unlearning reads of the run config.
struct UnlearnRunOptions {
  TrainingConfig training;
  UnlearnConfig unlearn;
  ProfileConfig profile;
  std::string config_hash;  // recorded in the deltas of training checkpoints
};

// True when `config.method` (with its retain_weight) uses retain batches.
bool method_uses_retain(const UnlearnConfig& config);

// Entries of the step's global counts.
enum class UnlearnCount {
  kForgetScored,     // scored (answer) tokens of the forget batches
  kForgetValid,      // valid tokens of the forget batches
  kForgetSequences,  // forget sequences with a scored token
  kRetainScored,
  kRetainValid,
  kSequences,  // sequences with a valid token, forget and retain
};
// max(counts[which], 1): a term's normaliser.
double global_count(const torch::Tensor& counts, UnlearnCount which);

// One term of the objective on one micro-batch.
class UnlearnTerm {
 public:
  struct Result {
    CausalLMOutput out;
    torch::Tensor loss;  // this rank's sum over the batch / the step's global count
  };
  virtual ~UnlearnTerm() = default;
  // Runs the forward pass(es) the term needs (collective over the EP group).
  virtual Result forward(CausalLM& model, const TokenBatch& batch,
                         const torch::Tensor& counts) const = 0;
};

// Reported parts: [forget loss, retain loss, anchor loss, target hits, target tokens] (then the
// loop's aux and z losses). Checkpoints hold the trained tensors as delta.h5.
class UnlearningObjective : public TrainingObjective {
 public:
  // Takes the terms' reference data from `model` (collective for npo). data.forget must be set.
  UnlearningObjective(const UnlearnRunOptions& options, const ProcessGroups& groups,
                      CausalLM& model, const Selection& selection, const TrainableSet& trainable,
                      const UnlearnData& data, int64_t hook_layer);

  std::string label() const override;
  int64_t micro_steps_per_epoch() const override { return forget_sampler_.steps_per_epoch(); }
  std::vector<TrainingPass> passes(int64_t first, int64_t count) const override;
  torch::Tensor local_counts(const std::vector<TrainingPass>& passes) const override;
  double valid_tokens(const torch::Tensor& counts) const override;
  double valid_sequences(const torch::Tensor& counts) const override;
  int64_t num_parts() const override { return 5; }
  PassLoss forward(CausalLM& model, const TrainingPass& pass, const torch::Tensor& counts,
                   torch::Tensor& parts) override;
  StepReport end_step(int64_t step, const torch::Tensor& parts,
                      const torch::Tensor& counts) override;
  void save_model(const std::string& dir) const override;
  void load_model(const std::string& dir) override;
  nlohmann::json loop_state() const override { return nlohmann::json::object(); }
  void restore(const nlohmann::json&) override {}
  nlohmann::json summary() const override { return nlohmann::json::object(); }

 private:
  const UnlearnRunOptions& options_;
  const ProcessGroups& groups_;
  CausalLM& model_;
  const Selection& selection_;
  const TrainableSet& trainable_;
  UnlearnData data_;
  bool anchor_;
  GlobalBatchSampler forget_sampler_;
  std::unique_ptr<GlobalBatchSampler> retain_sampler_;  // null: no retain term
  std::unique_ptr<UnlearnTerm> forget_, retain_;
};

}  // namespace uoe
