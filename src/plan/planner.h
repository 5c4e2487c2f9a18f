#pragma once
// Predicted per-rank memory and step time of SEUF and full-model unlearning for an EP x DP layout
// of a model on a cluster (`uoe plan`; formulas and assumptions in benchmarks/scaling/PLANNER.md).
//
// Notation: T tokens per rank, S sequence length, H hidden, V vocab, E routed experts, K experts
// per token, L layers, b bytes per value (bf16: 2, fp32: 4), world = ep * dp ranks.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model_config.h"
#include "plan/cluster.h"

namespace uoe {

enum class PlanMethod { kSeuf, kFull };
const char* method_name(PlanMethod method);

struct Layout {
  int64_t ep = 1;
  int64_t dp = 1;
  int64_t world() const { return ep * dp; }
};

// Bytes on the rank that holds the most (for SEUF: the owner of the unlearned expert).
struct MemoryEstimate {
  double weights = 0;       // replicated dense part + routed experts / ep, b bytes each
  double trainable = 0;     // trainable elements on the rank
  double optimizer = 0;     // fp32 gradients + AdamW m and v (+ fp32 master copy when b = 2)
  double activations = 0;   // saved for backward (no recompute) + fp32 logits
  double comm_buffers = 0;  // one all-to-all send + receive buffer
  double total() const { return weights + optimizer + activations + comm_buffers; }
};

struct TimeEstimate {
  double compute = 0;            // forward + backward FLOPs / (peak * mfu)
  double weight_streaming = 0;   // local expert weights read from memory, once per pass over them
  double all_to_all = 0;         // token dispatch/combine + count exchanges
  double grad_sync = 0;          // ring all-reduce of the trainable gradients
  double optimizer = 0;          // AdamW update, memory-bound
  double flops = 0;              // per rank and step
  int64_t collective_calls = 0;  // all-to-alls and all-reduces per step
  double communication() const { return all_to_all + grad_sync; }
  double total() const { return compute + weight_streaming + communication() + optimizer; }
};

struct LayoutPlan {
  Layout layout;
  PlanMethod method = PlanMethod::kSeuf;
  MemoryEstimate memory;
  TimeEstimate time;
  bool fits = false;
  nlohmann::json to_json() const;
};

// One layout. Throws InputError when the layout is impossible (ep does not divide E).
LayoutPlan plan_layout(const ModelConfig& model, const PlanInput& input, const Layout& layout,
                       PlanMethod method);

// Every layout with world in cluster.gpu_counts and ep a divisor of both E and world.
std::vector<LayoutPlan> plan_all(const ModelConfig& model, const PlanInput& input,
                                 PlanMethod method);

// Among `plans`: the fitting ones with the fewest ranks, the fastest of those (ties: smaller ep).
// Null when nothing fits.
const LayoutPlan* recommend(const std::vector<LayoutPlan>& plans);

}  // namespace uoe
