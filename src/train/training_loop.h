#pragma once
// The one training loop of `uoe pretrain` and `uoe unlearn` (DESIGN.md sections 1-3). Per
// optimizer step it
//   1. asks the objective for this rank's forward passes of the step (its blocks of global
//      micro-batches step*GA .. step*GA + GA-1) and their counts (scored tokens, valid tokens,
//      sequences, as the objective defines them), summed over the world with ONE all-reduce: each
//      loss term is this rank's sum divided by its global count, so summing gradients over
//      replicas gives the gradient of the global mean for any layout and accumulation;
//   2. runs each pass forward (the objective's loss plus the balancing losses) and backward;
//   3. steps the DistributedOptimizer (gradient sync, clipping, AdamW) at the scheduled learning
//      rate, then the aux-loss-free router bias update;
//   4. all-reduces the reported parts (the objective's, then the unweighted aux and z losses),
//      logs a metrics.jsonl record every logging_steps (progress with ETA, load metrics of the step
//      breakdown) and ends the step with the checkpointer (non-finite check, training checkpoint,
//      stop signals).
// What differs between pretraining and the unlearning methods is the TrainingObjective.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/token_dataset.h"
#include "model/causal_lm.h"
#include "parallel/grad_sync.h"
#include "parallel/process_groups.h"
#include "train/training_options.h"

namespace uoe {

// One trained forward pass of this rank: a micro-batch and which of the objective's terms it feeds
// (the objective's own label, e.g. forget or retain).
struct TrainingPass {
  TokenBatch batch;
  int term = 0;
};

// The loss of one pass, before the balancing losses, and the routing they need.
struct PassLoss {
  torch::Tensor loss;                // scalar, backpropagated
  std::map<int64_t, MoEOutput> moe;  // the pass's MoE routing
};

// An optimizer step's result as the objective reports it.
struct StepReport {
  std::map<std::string, double> losses;  // named parts checked for non-finite values
  nlohmann::json record;                 // the objective's keys of the metrics record
  int64_t tokens = 0;                    // tokens of the step (summary "tokens", tokens_per_s)
};

class TrainingObjective {
 public:
  virtual ~TrainingObjective() = default;

  virtual std::string label() const = 0;  // progress lines: "pretrain", "unlearn ga"
  // Global micro-batches per epoch of the data, for num_train_epochs (0: unbounded).
  virtual int64_t micro_steps_per_epoch() const = 0;
  // This rank's passes of global micro-batches [first, first + count), in the order they run.
  virtual std::vector<TrainingPass> passes(int64_t first, int64_t count) const = 0;
  // This rank's counts of `passes` ([C] fp64); the loop sums them over the world.
  virtual torch::Tensor local_counts(const std::vector<TrainingPass>& passes) const = 0;
  // From the global counts: the valid tokens and sequences of the step (balancing losses).
  virtual double valid_tokens(const torch::Tensor& counts) const = 0;
  virtual double valid_sequences(const torch::Tensor& counts) const = 0;

  // Entries of the reported parts; the loop appends the aux and z losses after them.
  virtual int64_t num_parts() const = 0;
  // Forward of one pass (collective over the EP group). Adds this rank's share of the reported
  // values to parts[0, num_parts()): an fp64 tensor on the model's device, read once when the
  // step ends, so add detached tensors (never .item(): it would make the host wait for the pass).
  virtual PassLoss forward(CausalLM& model, const TrainingPass& pass, const torch::Tensor& counts,
                           torch::Tensor& parts) = 0;
  // After the parts were summed over the world (aux at num_parts(), z at num_parts() + 1).
  virtual StepReport end_step(int64_t step, const torch::Tensor& parts,
                              const torch::Tensor& counts) = 0;
  // After a metrics record was written.
  virtual void logged() {}

  // What training checkpoints hold of the model, written into / read from a checkpoint directory.
  virtual void save_model(const std::string& dir) const = 0;
  virtual void load_model(const std::string& dir) = 0;
  // The objective's part of the trainer state, and its restoration on resume.
  virtual nlohmann::json loop_state() const = 0;
  virtual void restore(const nlohmann::json& loop_state) = 0;
  // The objective's keys of the run summary.
  virtual nlohmann::json summary() const = 0;
};

// Runs the optimizer steps of `training` (max_steps, or num_train_epochs over the objective's
// data) on `trainable`, resuming from a training checkpoint when asked; rank 0 writes
// <output_dir>/metrics.jsonl (and breakdown.jsonl when `breakdown`). Returns the summary: steps,
// resumed_from_step, step_time_s, wall_s, tokens, tokens_per_s, final (the last step's record),
// trainable elements and optimizer state bytes of this rank and the maximum over ranks, breakdown,
// and the objective's keys.
nlohmann::json run_training_loop(const TrainingConfig& training, bool breakdown,
                                 const ProcessGroups& groups, CausalLM& model,
                                 GradientGroups trainable, TrainingObjective& objective);

}  // namespace uoe
