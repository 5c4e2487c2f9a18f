#include "plan/plan_report.h"

#include <c10/util/StringUtil.h>

#include <iomanip>
#include <sstream>

#include "model/parameter_count.h"

namespace uoe {
namespace {

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

std::string gib(double bytes) { return fixed(bytes / double(1ull << 30), 1); }

std::string flop_rate(double flops) {
  return flops >= 1e12 ? fixed(flops / 1e12, 1) + " TFLOP/s" : fixed(flops / 1e9, 1) + " GFLOP/s";
}
std::string ms(double seconds) { return fixed(seconds * 1e3, seconds < 0.1 ? 2 : 0); }

std::string layout_name(const LayoutPlan& p) { return c10::str(p.layout.ep, "x", p.layout.dp); }

std::string memory_cell(const LayoutPlan& p) {
  const MemoryEstimate& m = p.memory;
  return c10::str(gib(m.total()), " (", gib(m.weights), " / ", gib(m.optimizer), " / ",
                  gib(m.activations), " / ", gib(m.comm_buffers), ")");
}

std::string time_cell(const LayoutPlan& p) {
  const TimeEstimate& t = p.time;
  return c10::str(ms(t.total()), " (", ms(t.compute + t.weight_streaming), " / ",
                  ms(t.communication()), " / ", ms(t.optimizer), ")");
}

// Fastest fitting layout with `world` ranks; else the one with the least memory (marked).
std::string best_cells(const std::vector<LayoutPlan>& plans, int64_t world) {
  const LayoutPlan* fastest = nullptr;
  const LayoutPlan* smallest = nullptr;
  for (const auto& p : plans) {
    if (p.layout.world() != world) continue;
    if (p.fits && (fastest == nullptr || p.time.total() < fastest->time.total())) fastest = &p;
    if (smallest == nullptr || p.memory.total() < smallest->memory.total()) smallest = &p;
  }
  if (smallest == nullptr) return "no layout | | ";
  if (fastest == nullptr)
    return c10::str("does not fit (", layout_name(*smallest), ") | ", memory_cell(*smallest),
                    " | ");
  return c10::str(layout_name(*fastest), " | ", memory_cell(*fastest), " | ", time_cell(*fastest));
}

std::string recommendation(const char* method, const std::vector<LayoutPlan>& plans) {
  const LayoutPlan* best = recommend(plans);
  if (best == nullptr)
    return c10::str("- ", method, ": no layout fits on up to the largest GPU count\n");
  return c10::str("- ", method, ": **", best->layout.world(), " GPUs, EP ", best->layout.ep,
                  " x DP ", best->layout.dp, "**, ", gib(best->memory.total()),
                  " GiB per GPU, step ", ms(best->time.total()), " ms\n");
}

}  // namespace

std::string plan_report_markdown(const std::string& name, const ModelConfig& model,
                                 const PlanInput& input, const std::vector<LayoutPlan>& seuf,
                                 const std::vector<LayoutPlan>& full) {
  const ClusterSpec& c = input.cluster;
  const WorkloadSpec& w = input.workload;
  const ParameterCounts counts = count_parameters(model);
  std::ostringstream out;
  out << "### " << name << "\n\n"
      << fixed(counts.total() / 1e9, 2) << "B parameters (" << fixed(counts.active / 1e9, 2)
      << "B active), " << model.num_experts << " experts top-" << model.num_experts_per_tok << ", "
      << model.num_moe_layers() << " MoE layers of " << model.num_hidden_layers << ". Cluster `"
      << c.name << "`: " << c.gpus_per_node << " per node, " << flop_rate(c.peak_flops) << " x MFU "
      << c.mfu << ", " << c.memory_gib << " GiB (" << c.usable_memory_fraction
      << " usable). Workload: " << w.precision << ", " << w.sequences_per_rank << " x " << w.seq_len
      << " tokens per rank, " << w.attention << " attention, "
      << (w.recompute ? "recompute" : "no recompute") << ".\n\n"
      << "| GPUs | SEUF EP x DP | SEUF GiB/GPU (weights / grads+optim / activations / buffers) | "
         "SEUF step ms (compute / comm / optimizer) | full EP x DP | full GiB/GPU | full step ms "
         "|\n"
      << "|---|---|---|---|---|---|---|\n";
  for (int64_t world : c.gpu_counts) {
    out << "| " << world << " | " << best_cells(seuf, world) << " | " << best_cells(full, world)
        << " |\n";
  }
  out << "\nSmallest layout that fits (fastest among equally small):\n"
      << recommendation("SEUF", seuf) << recommendation("full", full);
  if (input.detail) {
    out << "\n| method | GPUs | EP x DP | fits | GiB/GPU (weights / grads+optim / activations / "
           "buffers) "
           "| step ms (compute / comm / optimizer) | all-to-all ms | grad sync ms |\n"
        << "|---|---|---|---|---|---|---|---|\n";
    for (const auto* plans : {&seuf, &full}) {
      for (const auto& p : *plans) {
        out << "| " << method_name(p.method) << " | " << p.layout.world() << " | " << layout_name(p)
            << " | " << (p.fits ? "yes" : "no") << " | " << memory_cell(p) << " | " << time_cell(p)
            << " | " << ms(p.time.all_to_all) << " | " << ms(p.time.grad_sync) << " |\n";
      }
    }
  }
  return out.str();
}

nlohmann::json plan_report_json(const std::string& name, const PlanInput& input,
                                const std::vector<LayoutPlan>& seuf,
                                const std::vector<LayoutPlan>& full) {
  nlohmann::json layouts = nlohmann::json::array();
  for (const auto* plans : {&seuf, &full}) {
    for (const auto& p : *plans) layouts.push_back(p.to_json());
  }
  auto pick = [](const std::vector<LayoutPlan>& plans) {
    const LayoutPlan* best = recommend(plans);
    return best == nullptr ? nlohmann::json() : best->to_json();
  };
  return {{"model", name},
          {"cluster", input.cluster.name},
          {"tokens_per_rank", input.workload.tokens_per_rank()},
          {"precision", input.workload.precision},
          {"recommended", {{"seuf", pick(seuf)}, {"full", pick(full)}}},
          {"layouts", layouts}};
}

}  // namespace uoe
