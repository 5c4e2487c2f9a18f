#include "train/progress.h"

#include <sstream>

#include "common/log.h"

namespace uoe {

ProgressLogger::ProgressLogger(std::string what, int64_t total_steps,
                               const std::string& metrics_path)
    : what_(std::move(what)), total_steps_(total_steps), start_(std::chrono::steady_clock::now()) {
  if (!metrics_path.empty()) metrics_ = JsonLinesWriter(metrics_path);
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
    if (key == "step" || key == "elapsed_s") continue;
    line << " " << key << "=";
    if (value.is_number_float()) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.4g", value.get<double>());
      line << buf;
    } else {
      line << value.dump();
    }
  }
  const double eta = step > 0 ? elapsed / double(step) * double(total_steps_ - step) : 0.0;
  line << " | " << format_duration(elapsed) << " elapsed, ETA " << format_duration(eta);
  log0(line.str());
}

}  // namespace uoe
