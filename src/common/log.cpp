#include "common/log.h"

#include <cstdio>
#include <mutex>

namespace uoe {
namespace {
int g_rank = 0;
std::string g_host = "localhost";
std::mutex g_mutex;
}  // namespace

void set_log_identity(int rank, const std::string& host) {
  g_rank = rank;
  g_host = host;
}
int log_rank() { return g_rank; }
const std::string& log_host() { return g_host; }
std::string rank_tag() { return c10::str("[rank ", g_rank, "@", g_host, "]"); }

void write_log_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

std::string format_duration(double seconds) {
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", int(seconds) / 3600, (int(seconds) % 3600) / 60);
  }
  return buf;
}

}  // namespace uoe
