#pragma once
// Helpers shared by the benchmark executables: command-line flags, timing with medians,
// deterministic tensors, error metrics, raw fp32 files and JSON output.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace uoe::bench {

// "--key value" flags. Every flag must be read by the program (check_all_used), so that a typo is
// an error instead of a silently ignored setting.
class Flags {
 public:
  Flags(int argc, char** argv);

  int64_t get_int(const std::string& key, int64_t fallback);
  double get_double(const std::string& key, double fallback);
  std::string get_string(const std::string& key, const std::string& fallback);
  bool get_bool(const std::string& key, bool fallback);  // 0/1/true/false
  // Throws InputError naming the first flag that was given but never read.
  void check_all_used() const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
};

// Seconds since an arbitrary epoch (steady clock).
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> values);
double minimum(std::vector<double> values);

// Each step runs once and returns its own measured duration in seconds, so that it can exclude
// set-up work or reduce over ranks. Runs the steps round-robin, one of each per round, for
// warmup + iters rounds, so that all of them see the same machine load (this 2-core machine is
// shared), and returns each step's `iters` timed durations. `pause_s` of sleep before each step
// lets the worker threads of the previous one (OpenBLAS spins for a while) go idle.
using Step = std::function<double()>;
std::vector<std::vector<double>> time_interleaved(int64_t warmup, int64_t iters,
                                                  const std::vector<Step>& steps,
                                                  double pause_s = 0.0);

// N(0, 1) * scale drawn from the global CPU generator, in the exact call order the Python
// reference uses (same libtorch, same generator, so the same numbers).
torch::Tensor normal(at::IntArrayRef shape, double scale = 1.0);

struct ErrorStats {
  double relative = 0;  // ||a - b||_2 / ||b||_2
  double max_abs = 0;   // max |a - b|
};
// Tensors on any device, compared on the CPU in fp64.
ErrorStats compare(const torch::Tensor& actual, const torch::Tensor& expected);

// Raw little-endian fp32 files (numpy's tofile / fromfile), checked against the expected size.
torch::Tensor read_f32(const std::string& path, at::IntArrayRef shape);
void write_f32(const std::string& path, const torch::Tensor& tensor);

nlohmann::json read_json(const std::string& path);
// Writes `value` (pretty-printed), creating the parent folder.
void write_json(const std::string& path, const nlohmann::json& value);

// Statistics of a list of timings: {"median_s", "min_s", "max_s", "samples_s"}.
nlohmann::json timing_json(const std::vector<double>& seconds);

// Calls `body` and maps exceptions to the exit codes of the `uoe` command (2 input, 1 runtime).
// `abort` ends the job on failure (MpiRuntime::abort under MPI); it receives the exit code.
int run_main(const std::function<int()>& body, const std::function<void(int)>& abort);

}  // namespace uoe::bench
