#pragma once
// The memory plan a training command prints at start-up (pretrain, unlearn): `uoe plan`'s memory
// model (plan/planner.h) for this run's layout and workload, with and without activation
// recomputation, against the memory one rank may use: the host's on the CPU, the GPU's on a GPU
// (the model is created there; the host holds one tensor at a time while it loads or initialises:
// a mapped file's pages, or initialize()'s fp32 draw). A layout that cannot fit is refused before
// anything is allocated.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// The memory one rank may use in one place, and where the number comes from (for the messages).
struct MemoryCapacity {
  double bytes_per_rank = 0;    // what the planned peak must fit in
  double process_baseline = 0;  // already resident before the model (libraries, MPI), not in it
  std::string source;           // e.g. "MemAvailable 21.5 GiB shared by 2 ranks on the node"
  std::string device = "cpu";   // whose memory: "cpu" (the host) or "cuda:<index>"
};

struct MemoryPlan {
  RunWorkload workload;
  Layout layout;
  MemoryEstimate planned;  // as the run is configured
  MemoryEstimate without_recompute, with_recompute;
  std::optional<MemoryEstimate> in_bf16;  // an fp32 run's plan with bf16: true, for the advice
  // Where the tensors live: the host, or the rank's GPU (the model is built there: its weights
  // never pass through the host, model/causal_lm.h).
  MemoryCapacity capacity;
  bool on_gpu() const { return capacity.device != "cpu"; }
  bool fits() const { return planned.total() <= capacity.bytes_per_rank; }
  // What the peak of `capacity`'s memory should be: the planned peak over the baseline.
  double expected_peak() const { return capacity.process_baseline + planned.total(); }
  std::string describe() const;  // the start-up line
  nlohmann::json to_json() const;
};

// One rank's GPU as that rank sees it (common/device_memory.h's gpu_memory), gathered from all.
struct RankGpu {
  int64_t uuid_hash = 0;  // ranks with the same hash use the same GPU
  int64_t index = 0;      // cuda:<index> of that rank
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};

// The GPU memory one rank may use: each GPU's free memory split evenly between the ranks that use
// it, the smallest share over `ranks` (one entry per rank, by rank), so that every rank plans with
// the same number; the source names the rank whose share it is. `device` is the caller's own.
MemoryCapacity gpu_capacity(const std::vector<RankGpu>& ranks, const std::string& device);

// `capacity` is where the tensors live: the host (device "cpu") or a GPU ("cuda:<index>").
MemoryPlan plan_run_memory(const ModelConfig& model, const Layout& layout,
                           const RunWorkload& workload, const MemoryCapacity& capacity);

// Throws InputError (one line naming what to change) when the plan does not fit.
void check_memory_plan(const MemoryPlan& plan);

}  // namespace uoe
