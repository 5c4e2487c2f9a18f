#pragma once
// The per-step time breakdown of a training run (`profile.breakdown`): attaches a StepProfiler to
// the model, adds the load per expert summed over all ranks
// (also reported to metrics.jsonl through load_metrics()), appends one record per step to
// <output_dir>/breakdown.jsonl (rank 0) and keeps the per-step means for summary.json.
// Times are rank 0's; bytes are those rank 0 sends; tokens per expert are global. Enabled or not,
// start_step() tells the collective watchdog which step is in progress, for its error line.
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/step_profiler.h"
#include "model/causal_lm.h"
#include "parallel/process_groups.h"

namespace uoe {

class StepBreakdown {
 public:
  // Disabled: profiler() is null and nothing is written. A run resumed after `first_step - 1`
  // steps appends to the existing file.
  StepBreakdown(bool enabled, CausalLM model, const ProcessGroups& groups,
                const std::string& output_dir, int64_t first_step);
  ~StepBreakdown();
  StepBreakdown(const StepBreakdown&) = delete;
  StepBreakdown& operator=(const StepBreakdown&) = delete;

  StepProfiler* profiler() { return enabled_ ? &profiler_ : nullptr; }
  void start_step();  // of step first_step, first_step + 1, ...
  // Collective over the world when enabled (sums the tokens per expert).
  void end_step(int64_t step);
  // The ended step's load per MoE layer for metrics.jsonl: {"load_max_violation": max over layers,
  // "load": {"<l>": {"max_violation": max/mean tokens per expert - 1, "routing_entropy"}}};
  // empty when disabled.
  nlohmann::json load_metrics() const;
  // Per-step means (StepProfiler::summary) or null when disabled; rank 0 also prints the table.
  nlohmann::json finish();

 private:
  bool enabled_;
  CausalLM model_;
  const ProcessGroups& groups_;
  StepProfiler profiler_;
  JsonLinesWriter records_;
  nlohmann::json last_record_;
  int64_t next_step_;
};

}  // namespace uoe
