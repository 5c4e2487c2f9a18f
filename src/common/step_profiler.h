#pragma once
// Per-step time breakdown of a training step (issue 7): time of named phases (host clock on the
// CPU, the device's timeline on a GPU), bytes moved per collective, and routed tokens per expert,
// per MoE layer, reset every step.
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
// Time comes from a ProfilerClock: the host's steady clock, or on a GPU events recorded on the
// current stream (common/device_memory.h), so that a phase times the device work queued inside
// it, not its launch, without waiting for the device before the step ends.
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace uoe {

// Time stamps of one step, read when the step ends.
class ProfilerClock {
 public:
  virtual ~ProfilerClock() = default;
  // Forgets the stamps of the previous step.
  virtual void start_step() = 0;
  // A stamp of now: on a device, of the moment the work queued so far has run.
  virtual int stamp() = 0;
  // Seconds from stamp `from` to stamp `to` of this step (may wait for the device).
  virtual double seconds(int from, int to) = 0;

 protected:
  // Throws InternalError unless `from` and `to` are among the `taken` stamps of this step.
  static void check_stamps(int from, int to, size_t taken);
};

// The host's steady clock (the default; on the CPU every operation has ended when it returns).
class HostClock final : public ProfilerClock {
 public:
  void start_step() override { stamps_.clear(); }
  int stamp() override;
  double seconds(int from, int to) override;

 private:
  std::vector<std::chrono::steady_clock::time_point> stamps_;
};

class StepProfiler {
 public:
  static constexpr int kNoLayer = -1;

  // Adds the time from construction to destruction to `phase` (of `layer`); no-op when the
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
    int start_ = 0;
    int uncaught_;  // exceptions in flight at construction: more at destruction = unwinding
  };

  StepProfiler() : clock_(std::make_unique<HostClock>()) {}
  // Replaces the host clock (before the first step).
  void set_clock(std::unique_ptr<ProfilerClock> clock) { clock_ = std::move(clock); }

  // A stamp of now for add_interval.
  int stamp() { return clock_->stamp(); }
  // Adds `sign` times the time between two stamps of this step to `phase` (resolved when the
  // step ends; sign -1 takes out time that another phase reports).
  void add_interval(const std::string& phase, int layer, int from, int to, double sign = 1.0);
  void add_bytes(const std::string& collective, int layer, double bytes);
  // Adds `counts` [E] to the layer's routed tokens per expert of this step.
  void add_tokens_per_expert(int layer, const std::vector<int64_t>& counts);
  // Replaces every layer's tokens per expert (e.g. by their sum over ranks).
  void set_tokens_per_expert(const std::map<int, std::vector<int64_t>>& counts);
  const std::map<int, std::vector<int64_t>>& tokens_per_expert() const { return tokens_; }

  // Clears the step's numbers and takes the step's first stamp.
  void start_step();
  // The record of the step (see step_profiler.cpp for the fields); also added to the totals.
  nlohmann::json end_step(int64_t step);
  // Mean per step over every ended step: same fields as a step record, plus "steps".
  nlohmann::json summary() const;

  static int stamp(StepProfiler* p) { return p ? p->stamp() : -1; }
  static void add_interval(StepProfiler* p, const std::string& phase, int layer, int from, int to,
                           double sign = 1.0) {
    if (p) p->add_interval(phase, layer, from, to, sign);
  }
  static void add_bytes(StepProfiler* p, const std::string& collective, int layer, double bytes) {
    if (p) p->add_bytes(collective, layer, bytes);
  }

 private:
  struct Interval {
    int from, to;
    double sign;
  };
  struct Numbers {
    std::map<std::string, std::vector<Interval>> intervals;  // read from the clock at end_step
    std::map<std::string, double> bytes;
  };
  std::unique_ptr<ProfilerClock> clock_;
  std::string clock_error_;      // a stamp a Scope's destructor could not take; end_step throws it
  std::map<int, Numbers> step_;  // layer (kNoLayer = not per layer) -> numbers of this step
  std::map<int, std::vector<int64_t>> tokens_;  // layer -> [E] of this step
  int step_start_ = 0;
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
