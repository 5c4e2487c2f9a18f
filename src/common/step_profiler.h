#pragma once
// Per-step time breakdown of a training step (issue 7): wall time of named phases, bytes moved
// per collective, and routed tokens per expert, per MoE layer, reset every step.
//
// Phases form two levels; only the top level is disjoint and sums to at most the step's wall time:
//   top level       : forward, backward, grad_reduction, optimizer
//   inside forward  : attention, router, permutation, count_exchange, token_all_to_all,
//                     expert_compute, combine, shared_expert (per layer)
//   inside backward : backward_token_all_to_all (per layer; the all-to-all's backward exchange)
//                     and, with gradient_checkpointing, the forward phases again (the layers'
//                     recomputation, which moves no bytes and counts no tokens)
// Code that may run without a profiler takes a `StepProfiler*` that can be null; every method
// is then skipped by the static helpers below (the disabled cost is a null check).
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace uoe {

class StepProfiler {
 public:
  static constexpr int kNoLayer = -1;

  // Adds the wall time from construction to destruction to `phase` (of `layer`); no-op when the
  // profiler is null.
  class Scope {
   public:
    Scope(StepProfiler* profiler, const char* phase, int layer = kNoLayer);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    StepProfiler* profiler_;
    const char* phase_;
    int layer_;
    std::chrono::steady_clock::time_point start_;
  };

  void add_seconds(const std::string& phase, int layer, double seconds);
  void add_bytes(const std::string& collective, int layer, double bytes);
  // Adds `counts` [E] to the layer's routed tokens per expert of this step.
  void add_tokens_per_expert(int layer, const std::vector<int64_t>& counts);
  // Replaces every layer's tokens per expert (e.g. by their sum over ranks).
  void set_tokens_per_expert(const std::map<int, std::vector<int64_t>>& counts);
  const std::map<int, std::vector<int64_t>>& tokens_per_expert() const { return tokens_; }

  // Clears the step's numbers and starts its wall clock.
  void start_step();
  // The record of the step (see step_profiler.cpp for the fields); also added to the totals.
  nlohmann::json end_step(int64_t step);
  // Mean per step over every ended step: same fields as a step record, plus "steps".
  nlohmann::json summary() const;

  static void add_seconds(StepProfiler* p, const std::string& phase, int layer, double seconds) {
    if (p) p->add_seconds(phase, layer, seconds);
  }
  static void add_bytes(StepProfiler* p, const std::string& collective, int layer, double bytes) {
    if (p) p->add_bytes(collective, layer, bytes);
  }

 private:
  struct Numbers {
    std::map<std::string, double> seconds;
    std::map<std::string, double> bytes;
  };
  std::map<int, Numbers> step_;  // layer (kNoLayer = not per layer) -> numbers of this step
  std::map<int, std::vector<int64_t>> tokens_;  // layer -> [E] of this step
  std::chrono::steady_clock::time_point step_start_;
  nlohmann::json totals_;  // sums of the step records' numbers
  int64_t steps_ = 0;
};

// max / mean of `counts` (1 for a perfectly balanced router; 0 when nothing was routed).
double load_imbalance(const std::vector<int64_t>& counts);
// Entropy of the load shares counts / sum over log(E): 1 for a uniform load, 0 when one expert
// gets everything (or nothing was routed).
double load_entropy(const std::vector<int64_t>& counts);

// A printable table of a summary() (or of one step record): phases in ms, bytes in MiB, imbalance.
std::string breakdown_table(const nlohmann::json& summary);

}  // namespace uoe
