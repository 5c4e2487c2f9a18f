#pragma once
// Logging: log0 prints on rank 0 only; log_all prints on every rank with a "[rank r@host]" tag.
#include <c10/util/StringUtil.h>

#include <string>

namespace uoe {

void set_log_identity(int rank, const std::string& host);
int log_rank();
const std::string& log_host();
// "[rank r@host]" for this process.
std::string rank_tag();

void write_log_line(const std::string& line);

template <typename... Args>
void log0(const Args&... args) {
  if (log_rank() == 0) write_log_line(c10::str(args...));
}

template <typename... Args>
void log_all(const Args&... args) {
  write_log_line(c10::str(rank_tag(), " ", args...));
}

// "1h02m", "3m07s", "12.3s": durations for progress lines.
std::string format_duration(double seconds);

}  // namespace uoe
