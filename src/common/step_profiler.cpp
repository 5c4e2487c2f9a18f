#include "common/step_profiler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "common/check.h"

namespace uoe {
namespace {

// total += record for every number in `record` (recursively; arrays and "step" are skipped).
void add_numbers(nlohmann::json& total, const nlohmann::json& record) {
  if (total.is_null()) total = nlohmann::json::object();
  for (const auto& [key, value] : record.items()) {
    if (key == "step" || value.is_array()) continue;
    if (value.is_object()) {
      add_numbers(total[key], value);
    } else if (value.is_number()) {
      total[key] = total.value(key, 0.0) + value.get<double>();
    }
  }
}

void scale_numbers(nlohmann::json& numbers, double factor) {
  for (auto& [key, value] : numbers.items()) {
    if (value.is_object()) {
      scale_numbers(value, factor);
    } else if (value.is_number()) {
      value = value.get<double>() * factor;
    }
  }
}

std::string layer_key(int layer) { return std::to_string(layer); }

}  // namespace

int HostClock::stamp() {
  stamps_.push_back(std::chrono::steady_clock::now());
  return int(stamps_.size()) - 1;
}

void ProfilerClock::check_stamps(int from, int to, size_t taken) {
  UOE_ASSERT(from >= 0 && to >= 0 && size_t(std::max(from, to)) < taken, "profiler clock: stamps ",
             from, " and ", to, " of ", taken, " taken this step");
}

double HostClock::seconds(int from, int to) {
  check_stamps(from, to, stamps_.size());
  return std::chrono::duration<double>(stamps_[to] - stamps_[from]).count();
}

StepProfiler::Scope::Scope(StepProfiler* profiler, const char* phase, int layer)
    : profiler_(profiler), phase_(phase), layer_(layer), uncaught_(std::uncaught_exceptions()) {
  if (profiler_) start_ = profiler_->stamp();
}

// Never throws: a phase left by an exception is not timed (the step is lost anyway), and a stamp
// that fails (a CUDA error) is kept for end_step to throw.
StepProfiler::Scope::~Scope() {
  if (!profiler_ || std::uncaught_exceptions() > uncaught_) return;
  try {
    profiler_->add_interval(phase_, layer_, start_, profiler_->stamp());
  } catch (const std::exception& e) {
    if (profiler_->clock_error_.empty()) profiler_->clock_error_ = e.what();
  }
}

void StepProfiler::add_interval(const std::string& phase, int layer, int from, int to,
                                double sign) {
  step_[layer].intervals[phase].push_back({from, to, sign});
}

void StepProfiler::add_bytes(const std::string& collective, int layer, double bytes) {
  step_[layer].bytes[collective] += bytes;
}

void StepProfiler::add_tokens_per_expert(int layer, const std::vector<int64_t>& counts) {
  auto& sum = tokens_[layer];
  if (sum.empty()) sum.assign(counts.size(), 0);
  for (size_t e = 0; e < std::min(sum.size(), counts.size()); ++e) sum[e] += counts[e];
}

void StepProfiler::set_tokens_per_expert(const std::map<int, std::vector<int64_t>>& counts) {
  tokens_ = counts;
}

void StepProfiler::start_step() {
  step_.clear();
  tokens_.clear();
  clock_error_.clear();
  clock_->start_step();
  step_start_ = clock_->stamp();
}

// {"step", "wall_s", "phases_s": {phase: seconds summed over layers}, "bytes": {collective:
//  bytes sent by this rank, summed over layers}, "imbalance_max": max over layers,
//  "layers": {"<l>": {"phases_s", "bytes", "tokens_per_expert": [E], "imbalance"}}}
nlohmann::json StepProfiler::end_step(int64_t step) {
  if (!clock_error_.empty()) {
    throw std::runtime_error("step breakdown: a phase's time stamp failed: " + clock_error_);
  }
  nlohmann::json record = {{"step", step},
                           {"wall_s", clock_->seconds(step_start_, clock_->stamp())},
                           {"phases_s", nlohmann::json::object()},
                           {"bytes", nlohmann::json::object()}};
  nlohmann::json layers = nlohmann::json::object();
  for (const auto& [layer, numbers] : step_) {
    for (const auto& [phase, intervals] : numbers.intervals) {
      double s = 0.0;
      for (const Interval& i : intervals) s += i.sign * clock_->seconds(i.from, i.to);
      record["phases_s"][phase] = record["phases_s"].value(phase, 0.0) + s;
      if (layer != kNoLayer) layers[layer_key(layer)]["phases_s"][phase] = s;
    }
    for (const auto& [collective, b] : numbers.bytes) {
      record["bytes"][collective] = record["bytes"].value(collective, 0.0) + b;
      if (layer != kNoLayer) layers[layer_key(layer)]["bytes"][collective] = b;
    }
  }
  double imbalance_max = 0.0;
  for (const auto& [layer, counts] : tokens_) {
    const double imbalance = load_imbalance(counts);
    layers[layer_key(layer)]["tokens_per_expert"] = counts;
    layers[layer_key(layer)]["imbalance"] = imbalance;
    layers[layer_key(layer)]["max_violation"] = std::max(imbalance - 1.0, 0.0);
    layers[layer_key(layer)]["routing_entropy"] = load_entropy(counts);
    imbalance_max = std::max(imbalance_max, imbalance);
  }
  if (!tokens_.empty()) {
    record["imbalance_max"] = imbalance_max;
    record["max_violation_max"] = std::max(imbalance_max - 1.0, 0.0);
  }
  record["layers"] = layers;
  add_numbers(totals_, record);
  ++steps_;
  return record;
}

nlohmann::json StepProfiler::summary() const {
  nlohmann::json mean = totals_.is_null() ? nlohmann::json::object() : totals_;
  if (steps_ > 0) scale_numbers(mean, 1.0 / double(steps_));
  mean["steps"] = steps_;
  return mean;
}

double load_imbalance(const std::vector<int64_t>& counts) {
  if (counts.empty()) return 0.0;
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  if (total <= 0.0) return 0.0;
  return double(*std::max_element(counts.begin(), counts.end())) / (total / double(counts.size()));
}

double load_entropy(const std::vector<int64_t>& counts) {
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  if (total <= 0.0 || counts.size() < 2) return 0.0;
  double entropy = 0.0;
  for (const int64_t c : counts) {
    if (c > 0) entropy -= double(c) / total * std::log(double(c) / total);
  }
  return entropy / std::log(double(counts.size()));
}

std::string breakdown_table(const nlohmann::json& summary) {
  std::ostringstream out;
  char line[160];
  const double wall = summary.value("wall_s", 0.0);
  std::snprintf(line, sizeof line, "%-28s %12s %8s\n", "phase (mean per step)", "ms", "% wall");
  out << line;
  std::snprintf(line, sizeof line, "%-28s %12.3f %8.1f\n", "step wall time", wall * 1e3, 100.0);
  out << line;
  // Top-level phases, each followed by the phases nested in it (indented); others at the end.
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kLayout = {
      {"forward",
       {"attention", "router", "permutation", "count_exchange", "token_all_to_all",
        "expert_compute", "combine", "shared_expert"}},
      {"backward", {"backward_token_all_to_all"}},
      {"grad_reduction", {}},
      {"optimizer", {}}};
  const nlohmann::json phases = summary.value("phases_s", nlohmann::json::object());
  std::vector<std::string> printed;
  const auto print = [&](const std::string& phase, const std::string& label) {
    if (!phases.contains(phase)) return;
    const double seconds = phases[phase].get<double>();
    std::snprintf(line, sizeof line, "%-28s %12.3f %8.1f\n", label.c_str(), seconds * 1e3,
                  wall > 0 ? 100.0 * seconds / wall : 0.0);
    out << line;
    printed.push_back(phase);
  };
  for (const auto& [phase, nested] : kLayout) {
    print(phase, phase);
    for (const auto& inner : nested) print(inner, "  " + inner);
  }
  for (const auto& [phase, value] : phases.items()) {
    if (std::find(printed.begin(), printed.end(), phase) == printed.end()) print(phase, phase);
  }
  if (summary.contains("bytes")) {
    for (const auto& [collective, b] : summary["bytes"].items()) {
      std::snprintf(line, sizeof line, "%-28s %12.3f MiB sent\n", ("bytes " + collective).c_str(),
                    b.get<double>() / (1024.0 * 1024.0));
      out << line;
    }
  }
  if (summary.contains("imbalance_max")) {
    std::snprintf(line, sizeof line, "%-28s %12.3f (max/mean tokens per expert, worst layer)\n",
                  "load imbalance", summary["imbalance_max"].get<double>());
    out << line;
  }
  return out.str();
}

}  // namespace uoe
