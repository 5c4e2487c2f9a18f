#pragma once
// Training checkpoints for resuming a run where it stopped:
//
//   <output_dir>/checkpoint-<step>/
//     model/ or delta.h5           what the caller writes: the whole model (pretraining) or the
//                                  trained tensors (unlearning), through `write_model`
//     optimizer-rank<r>.pt         rank r's AdamW state (moments, step counts)
//     trainer_state.json           step, layout, seed, batch settings, the caller's loop state
//     COMPLETE                     written last
//
// A checkpoint is written under "checkpoint-<step>.tmp", completed with COMPLETE and renamed, so a
// process killed at any moment leaves either no checkpoint-<step> or a complete one. The data
// order is a pure function of (seed, step, layout), so the step is the data position; resuming
// requires the same world size, ep_size, seed and batch settings (checked, with the key named).
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "parallel/process_groups.h"
#include "train/distributed_optimizer.h"
#include "train/training_options.h"

namespace uoe {

class TrainingCheckpointer {
 public:
  TrainingCheckpointer(const TrainingConfig& config, const ProcessGroups& groups);

  bool due(int64_t step) const;  // 1-based optimizer step

  // Collective over the world. `write_model(dir)` is called on every rank with the temporary
  // checkpoint directory; `loop_state` is stored in trainer_state.json. Then keeps the newest
  // save_total_limit checkpoints. Returns the directory written.
  std::string save(int64_t step, const std::function<void(const std::string&)>& write_model,
                   const DistributedOptimizer& optimizer, const nlohmann::json& loop_state) const;

  // Ends optimizer step `step` (1-based), collectively: a non-finite loss part or gradient norm
  // (global values, so every rank sees it) throws CollectiveError naming the step and the part,
  // before anything is written, so the last checkpoint stays the last good one. Then writes a
  // checkpoint when due or when any rank received SIGTERM/SIGUSR1; after the latter every rank
  // throws CollectiveError with exit code 128 + signal.
  void end_of_step(int64_t step, const std::map<std::string, double>& losses, double grad_norm,
                   const std::function<void(const std::string&)>& write_model,
                   const DistributedOptimizer& optimizer, const nlohmann::json& loop_state) const;

  // The checkpoint to resume from (see resolve_resume_checkpoint).
  std::optional<std::string> resume_dir() const;

  // Loads this rank's optimizer state. Returns the trainer state ("step" and the caller's "loop").
  nlohmann::json load(const std::string& dir, DistributedOptimizer& optimizer) const;

 private:
  void remove_old_checkpoints() const;

  const TrainingConfig& config_;
  const ProcessGroups& groups_;
};

// The checkpoint named by resume_from_checkpoint: none for "" or for "auto" without a complete
// checkpoint in output_dir. Throws InputError for a path that is not a complete checkpoint, or one
// written with another world size, ep_size, seed or batch settings (named in the message). Local:
// the start-up checks call it before any collective.
std::optional<std::string> resolve_resume_checkpoint(const TrainingConfig& config, int world_size,
                                                     int ep_size);

// Removes every checkpoint-<step> directory (complete or not) of `output_dir`: a run that
// overwrites an output_dir must not leave the old run's checkpoints to a later resume.
void remove_training_checkpoints(const std::string& output_dir);

// Newest complete checkpoint-<step> directory in `output_dir`, if any.
std::optional<std::string> latest_checkpoint(const std::string& output_dir);

}  // namespace uoe
