#pragma once
// Step progress for long runs: rank 0 prints "step 40/200 (20%) loss ... | 3.1s elapsed, ETA 12.4s"
// and appends the same record to metrics.jsonl.
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/files.h"

namespace uoe {

class ProgressLogger {
 public:
  // `metrics_path` empty: no metrics file (ranks other than 0). A run resumed after
  // `first_step - 1` steps keeps the records up to that step and appends; ETA counts only the
  // steps of this process.
  ProgressLogger(std::string what, int64_t total_steps, const std::string& metrics_path,
                 int64_t first_step = 1);

  // Logs `record` (which gets "step" and "elapsed_s") for 1-based `step`.
  void log(int64_t step, nlohmann::json record);
  double elapsed_seconds() const;

 private:
  std::string what_;
  int64_t total_steps_;
  int64_t first_step_;
  JsonLinesWriter metrics_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace uoe
