#pragma once
// The memory plan a training command prints at start-up (pretrain, unlearn): `uoe plan`'s memory
// model (plan/planner.h) for this run's layout and workload, with and without activation
// recomputation, against the memory one rank may use. A layout that cannot fit is refused before
// anything is allocated.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "plan/planner.h"

namespace uoe {

// What a run trains, per rank and step.
struct RunWorkload {
  PlanMethod method = PlanMethod::kFull;  // pretrain and full-model unlearning: kFull
  int64_t seq_len = 0;                    // longest sequence of the run's data
  int64_t sequences_per_rank = 1;         // per_device_train_batch_size (x 2 with a retain batch)
  int64_t seuf_target_layer = -1;         // -1: not known before attribution (worst case)
  int64_t seuf_experts = 1;
  std::string precision = "fp32";       // fp32 | bf16 (value bytes of weights and activations)
  bool gradient_checkpointing = false;  // activation recomputation per decoder layer
};

// Where the per-rank capacity comes from, for the messages.
struct MemoryCapacity {
  double bytes_per_rank = 0;    // what the planned peak must fit in
  double process_baseline = 0;  // already resident before the model (libraries, MPI), not in it
  std::string source;           // e.g. "MemAvailable 21.5 GiB shared by 2 ranks on the node"
};

struct MemoryPlan {
  RunWorkload workload;
  Layout layout;
  MemoryEstimate planned;  // as the run is configured
  MemoryEstimate without_recompute, with_recompute;
  MemoryCapacity capacity;
  bool fits() const { return planned.total() <= capacity.bytes_per_rank; }
  // What the process's peak should be: the planned peak over the baseline.
  double expected_peak() const { return capacity.process_baseline + planned.total(); }
  std::string describe() const;  // the start-up line
  nlohmann::json to_json() const;
};

MemoryPlan plan_run_memory(const ModelConfig& model, const Layout& layout,
                           const RunWorkload& workload, const MemoryCapacity& capacity);

// Throws InputError (one line naming what to change) when the plan does not fit.
void check_memory_plan(const MemoryPlan& plan);

}  // namespace uoe
