#include "plan/memory_plan.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "common/check.h"

namespace uoe {
namespace {

constexpr double kGiB = double(1ull << 30);

// "12.3 GiB", "4.56 GiB", or "789.0 MiB" below 1 GiB.
std::string gib(double bytes) {
  std::ostringstream out;
  if (bytes < kGiB) {
    out << std::fixed << std::setprecision(1) << bytes / double(1 << 20) << " MiB";
  } else {
    out << std::fixed << std::setprecision(bytes < 10 * kGiB ? 2 : 1) << bytes / kGiB << " GiB";
  }
  return out.str();
}

MemoryEstimate estimate(const ModelConfig& model, const Layout& layout, const RunWorkload& w,
                        bool recompute, const std::string& precision) {
  PlanInput input;
  input.workload.precision = precision;
  input.workload.seq_len = w.seq_len;
  input.workload.sequences_per_rank = w.sequences_per_rank;
  input.workload.seuf_target_layer = w.seuf_target_layer;
  input.workload.seuf_experts = w.seuf_experts;
  input.workload.recompute = recompute;
  return plan_layout(model, input, layout, w.method).memory;
}

nlohmann::json memory_json(const MemoryEstimate& m) {
  return {{"weights", m.weights},
          {"grads_and_optimizer", m.optimizer},
          {"activations", m.activations},
          {"comm_buffers", m.comm_buffers},
          {"total", m.total()}};
}

}  // namespace

MemoryCapacity gpu_capacity(const std::vector<RankGpu>& ranks, const std::string& device) {
  UOE_ASSERT(!ranks.empty(), "gpu_capacity needs every rank's GPU");
  const auto sharing = [&](const RankGpu& gpu) {
    return std::count_if(ranks.begin(), ranks.end(),
                         [&](const RankGpu& other) { return other.uuid_hash == gpu.uuid_hash; });
  };
  size_t tightest = 0;
  for (size_t r = 1; r < ranks.size(); ++r) {
    if (ranks[r].free_bytes / sharing(ranks[r]) <
        ranks[tightest].free_bytes / sharing(ranks[tightest])) {
      tightest = r;
    }
  }
  const RankGpu& gpu = ranks[tightest];
  const int64_t n = sharing(gpu);
  return {double(gpu.free_bytes / n), 0,
          c10::str("free memory of rank ", tightest, "'s cuda:", gpu.index, ", ",
                   gib(double(gpu.free_bytes)), " of ", gib(double(gpu.total_bytes)),
                   ", shared by ", n, n == 1 ? " rank" : " ranks"),
          device};
}

MemoryPlan plan_run_memory(const ModelConfig& model, const Layout& layout,
                           const RunWorkload& workload, const MemoryCapacity& capacity) {
  MemoryPlan plan;
  plan.workload = workload;
  plan.layout = layout;
  plan.capacity = capacity;
  const bool recompute = workload.gradient_checkpointing;
  plan.without_recompute = estimate(model, layout, workload, false, workload.precision);
  plan.with_recompute = estimate(model, layout, workload, true, workload.precision);
  plan.planned = recompute ? plan.with_recompute : plan.without_recompute;
  if (workload.precision != "bf16") {
    plan.in_bf16 = estimate(model, layout, workload, recompute, "bf16");
  }
  return plan;
}

std::string MemoryPlan::describe() const {
  const RunWorkload& w = workload;
  return c10::str(
      "memory plan per rank (", method_name(w.method), ", ", w.precision, ", ",
      w.sequences_per_rank, " x ", w.seq_len, " tokens): weights ", gib(planned.weights),
      ", trainable ", int64_t(planned.trainable), " elements with gradients and optimizer state ",
      gib(planned.optimizer), ", activations ", gib(without_recompute.activations),
      " without recomputation / ", gib(with_recompute.activations), " with",
      w.gradient_checkpointing ? " (gradient_checkpointing: true)" : "",
      planned.comm_buffers > 0 ? ", all-to-all buffers " + gib(planned.comm_buffers) : "",
      "; peak ", gib(planned.total()), " of ", gib(capacity.bytes_per_rank), " (", capacity.source,
      ")",
      capacity.process_baseline > 0
          ? ", over " + gib(capacity.process_baseline) + " already resident"
          : "");
}

nlohmann::json MemoryPlan::to_json() const {
  nlohmann::json json = {{"device", capacity.device},
                         {"method", method_name(workload.method)},
                         {"precision", workload.precision},
                         {"sequences_per_rank", workload.sequences_per_rank},
                         {"seq_len", workload.seq_len},
                         {"gradient_checkpointing", workload.gradient_checkpointing},
                         {"trainable_elements", planned.trainable},
                         {"planned_bytes", memory_json(planned)},
                         {"planned_total_without_recompute", without_recompute.total()},
                         {"planned_total_with_recompute", with_recompute.total()},
                         {"capacity_bytes_per_rank", capacity.bytes_per_rank},
                         {"process_baseline_bytes", capacity.process_baseline},
                         {"capacity_source", capacity.source}};
  // The host's peak is the resident set size; a GPU's, what its caching allocator handed out.
  json[on_gpu() ? "expected_peak_device_allocated_bytes" : "expected_peak_rss_bytes"] =
      expected_peak();
  return json;
}

void check_memory_plan(const MemoryPlan& plan) {
  if (plan.fits()) return;
  const MemoryEstimate& m = plan.planned;
  const RunWorkload& w = plan.workload;
  const double capacity = plan.capacity.bytes_per_rank;
  std::string change;
  if (m.activations >= m.weights + m.optimizer) {
    change = c10::str("lower per_device_train_batch_size (", w.sequences_per_rank, " sequences",
                      " per rank) or the sequence length (", w.seq_len, ")");
    if (!w.gradient_checkpointing && plan.with_recompute.total() <= capacity) {
      change += c10::str(", or set gradient_checkpointing: true (plans ",
                         gib(plan.with_recompute.total()), ")");
    }
  } else {
    change = c10::str("the model's weights and optimizer state alone need ",
                      gib(m.weights + m.optimizer), ": use a smaller model, raise ",
                      "parallel.ep_size (now ", plan.layout.ep, ") to split the experts over more ",
                      plan.on_gpu() ? "GPUs" : "ranks, or start fewer ranks per node");
  }
  // bf16: true where an fp32 run's plan in bf16 fits: it halves the weights and activations, but
  // the fp32 master copies of the trainable set can make it larger (full training).
  if (plan.in_bf16 && plan.in_bf16->total() <= capacity) {
    change += c10::str(", or set bf16: true (plans ", gib(plan.in_bf16->total()), ")");
  }
  throw InputError(c10::str("planned peak memory per rank ", gib(m.total()), " (weights ",
                            gib(m.weights), ", gradients and optimizer ", gib(m.optimizer),
                            ", activations ", gib(m.activations), ") exceeds the ", gib(capacity),
                            " this rank may use (", plan.capacity.source, "); ", change));
}

}  // namespace uoe
