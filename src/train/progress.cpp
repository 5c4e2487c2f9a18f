#include "train/progress.h"

#include <fstream>
#include <sstream>

#include "common/log.h"

namespace uoe {

ProgressLogger::ProgressLogger(std::string what, int64_t total_steps,
                               const std::string& metrics_path, int64_t first_step)
    : what_(std::move(what)),
      total_steps_(total_steps),
      first_step_(first_step),
      start_(std::chrono::steady_clock::now()) {
  if (metrics_path.empty()) return;
  metrics_ = open_step_records(metrics_path, first_step);
}

double ProgressLogger::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLogger::log(int64_t step, nlohmann::json record) {
  const double elapsed = elapsed_seconds();
  record["step"] = step;
  record["elapsed_s"] = elapsed;
  metrics_.write(record);
  std::ostringstream line;
  line << what_ << " step " << step << "/" << total_steps_ << " ("
       << (100 * step / std::max<int64_t>(total_steps_, 1)) << "%)";
  for (const auto& [key, value] : record.items()) {
    // Per-layer objects (load per MoE layer) stay in metrics.jsonl; the line keeps scalars.
    if (key == "step" || key == "elapsed_s" || value.is_structured()) continue;
    line << " " << key << "=";
    if (value.is_number_float()) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.4g", value.get<double>());
      line << buf;
    } else {
      line << value.dump();
    }
  }
  const int64_t done = step - first_step_ + 1;
  const double eta = done > 0 ? elapsed / double(done) * double(total_steps_ - step) : 0.0;
  line << " | " << format_duration(elapsed) << " elapsed, ETA " << format_duration(eta);
  log0(line.str());
}

}  // namespace uoe
