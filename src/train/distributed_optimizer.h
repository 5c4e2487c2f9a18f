#pragma once
// AdamW over this rank's trainable parameters with expert-parallel gradient synchronisation:
// step() = sync (dense over the world, experts over expert-DP) -> global-norm clip -> AdamW.
// Only parameters that require grad get optimizer state.
//
// Mixed precision (`bf16: true`): a parameter that is not fp32 gets an fp32 master copy. Its
// gradient is widened to fp32 before the sync, so the all-reduce, the clipping norm and AdamW
// (whose moments are fp32) all work on the master, which is then rounded into the parameter. The
// master accumulates updates smaller than the parameter's rounding step. fp32 parameters are their
// own master (no copy).
#include "common/step_profiler.h"
#include "parallel/grad_sync.h"
#include "train/training_options.h"

namespace uoe {

class DistributedOptimizer {
 public:
  // `params` lists trainable parameters only; frozen ones must not appear.
  DistributedOptimizer(GradientGroups params, const TrainingConfig& config,
                       const ProcessGroups& groups);

  void zero_grad();
  // Synchronises and clips the gradients, sets the learning rate and updates the parameters.
  // Returns the global gradient norm before clipping. A non-finite norm (identical on every rank)
  // leaves parameters and optimizer state untouched; the caller reports it.
  // `profiler` (may be null) gets the phases "grad_reduction" (the sync, with the bytes of its
  // all-reduces as "grad_all_reduce") and "optimizer" (clip and AdamW).
  double step(double learning_rate, StepProfiler* profiler = nullptr);
  // After each micro-batch's backward: adds the parameters' (bf16) gradients, widened, to their
  // fp32 master gradients and clears them, so micro-batches sum in fp32 (Megatron's main_grad).
  // No-op for fp32 parameters. step() calls it too, so a caller with one backward per step may
  // skip it (a second call finds no parameter gradient left and does nothing).
  void accumulate_gradients();

  // This rank's optimizer state (moments and step counts of its trainable parameters, in the
  // order they were given, and the master copies). A file written by one layout loads only into
  // the same layout.
  void save(const std::string& path) const;
  void load(const std::string& path);

  int64_t num_trainable_elements() const;  // this rank's parameters under the optimizer
  // This rank's optimizer state: exp_avg, exp_avg_sq and the fp32 master copies.
  int64_t state_bytes() const;
  int64_t master_bytes() const;  // of which master copies (0 when every parameter is fp32)

 private:
  // Parameters <- their master copies, rounded.
  void masters_to_parameters();

  GradientGroups params_;
  GradientGroups masters_;  // same layout as params_; an fp32 parameter is its own master
  const ProcessGroups& groups_;
  double max_grad_norm_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
};

}  // namespace uoe
