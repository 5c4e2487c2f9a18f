#include "train/step_breakdown.h"

#include "common/device_memory.h"
#include "common/log.h"
#include "parallel/collective_watchdog.h"

namespace uoe {

StepBreakdown::StepBreakdown(bool enabled, CausalLM model, const ProcessGroups& groups,
                             const std::string& output_dir, int64_t first_step)
    : enabled_(enabled), model_(std::move(model)), groups_(groups), next_step_(first_step) {
  if (!enabled_) return;
  if (auto clock = device_profiler_clock(model_->device().str()))
    profiler_.set_clock(std::move(clock));
  model_->set_profiler(&profiler_);
  if (groups_.rank() == 0) {
    records_ = open_step_records(output_dir + "/breakdown.jsonl", first_step);
  }
}

StepBreakdown::~StepBreakdown() {
  if (enabled_) model_->set_profiler(nullptr);
}

void StepBreakdown::start_step() {
  set_watchdog_step(next_step_++);
  if (enabled_) profiler_.start_step();
}

void StepBreakdown::end_step(int64_t step) {
  if (!enabled_) return;
  // Every rank routes its own tokens: sum the counts of all layers in one all-reduce.
  auto local = profiler_.tokens_per_expert();
  std::vector<int64_t> flat;
  for (const auto& [layer, counts] : local) flat.insert(flat.end(), counts.begin(), counts.end());
  if (!flat.empty() && groups_.world_size() > 1) {
    auto summed = torch::tensor(flat, torch::kInt64);
    groups_.world().control->all_reduce(summed, ReduceOp::kSum);
    const int64_t* value = summed.data_ptr<int64_t>();
    for (auto& [layer, counts] : local) {
      for (auto& c : counts) c = *value++;
    }
    profiler_.set_tokens_per_expert(local);
  }
  last_record_ = profiler_.end_step(step);
  if (records_.is_open()) records_.write(last_record_);
}

nlohmann::json StepBreakdown::load_metrics() const {
  nlohmann::json metrics = nlohmann::json::object();
  if (!enabled_ || !last_record_.contains("max_violation_max")) return metrics;
  metrics["load_max_violation"] = last_record_["max_violation_max"];
  for (const auto& [layer, numbers] : last_record_["layers"].items()) {
    if (!numbers.contains("max_violation")) continue;
    metrics["load"][layer] = {{"max_violation", numbers["max_violation"]},
                              {"routing_entropy", numbers["routing_entropy"]}};
  }
  return metrics;
}

nlohmann::json StepBreakdown::finish() {
  if (!enabled_) return nullptr;
  auto summary = profiler_.summary();
  log0("step breakdown (rank 0, mean per step over ", summary["steps"].get<int64_t>(), " steps):\n",
       breakdown_table(summary));
  return summary;
}

}  // namespace uoe
