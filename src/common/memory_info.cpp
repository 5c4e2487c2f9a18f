#include "common/memory_info.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

namespace uoe {
namespace {

// The first number in `path` (bytes), or -1 when the file is absent or holds no number ("max").
int64_t read_bytes(const std::string& path) {
  std::ifstream in(path);
  int64_t value = -1;
  if (!(in >> value)) return -1;
  return value;
}

// The value of "<key>: <n> kB" in a /proc file, in bytes, or -1.
int64_t proc_kib_field(const char* path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    int64_t kib = 0;
    if (fields >> name >> kib && name == key) return kib * 1024;
  }
  return -1;
}

// Room left under this process's cgroup limit, or -1 without one.
int64_t cgroup_room() {
  for (const auto& [limit_file, usage_file] :
       {std::pair<const char*, const char*>{"/sys/fs/cgroup/memory.max",
                                            "/sys/fs/cgroup/memory.current"},
        {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
         "/sys/fs/cgroup/memory/memory.usage_in_bytes"}}) {
    const int64_t limit = read_bytes(limit_file), usage = read_bytes(usage_file);
    // cgroup v1 writes "no limit" as a number near 2^63.
    if (limit > 0 && usage >= 0 && limit < (int64_t(1) << 60))
      return std::max<int64_t>(0, limit - usage);
  }
  return -1;
}

}  // namespace

int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return int64_t(usage.ru_maxrss) * 1024;
}

int64_t current_rss_bytes() {
  return std::max<int64_t>(0, proc_kib_field("/proc/self/status", "VmRSS:"));
}

int64_t available_memory_bytes(std::string* source) {
  const int64_t node = proc_kib_field("/proc/meminfo", "MemAvailable:"), cgroup = cgroup_room();
  const bool use_cgroup = cgroup >= 0 && (node < 0 || cgroup < node);
  if (source) *source = use_cgroup ? "the cgroup's memory limit" : "MemAvailable";
  if (use_cgroup) return cgroup;
  return node >= 0 ? node : std::numeric_limits<int64_t>::max();
}

}  // namespace uoe
