#include "common/memory_info.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <optional>
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

// The number after `key` on its line of a "<key> <n> ..." file (/proc/meminfo, /proc/self/status,
// memory.stat), or -1 when the file or the key is absent.
int64_t keyed_value(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    int64_t value = 0;
    if (fields >> name >> value && name == key) return value;
  }
  return -1;
}

// The value of "<key>: <n> kB" in a /proc file, in bytes, or -1.
int64_t proc_kib_field(const char* path, const std::string& key) {
  const int64_t kib = keyed_value(path, key);
  return kib < 0 ? -1 : kib * 1024;
}

// Where a cgroup version keeps its memory files.
struct CgroupMemoryFiles {
  std::string root;      // mount point of the hierarchy
  std::string path;      // this process's cgroup below it, from /proc/self/cgroup
  const char* limit;     // file with the limit ("max" or a number near 2^63: none)
  const char* usage;     // file with the usage, page cache included
  const char* inactive;  // memory.stat key of the inactive page cache (reclaimed first)
};

// This process's memory cgroup: v2 ("0::<path>") or v1 (the "memory" controller's line).
std::optional<CgroupMemoryFiles> memory_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::optional<CgroupMemoryFiles> found;
  while (std::getline(in, line)) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    std::istringstream names(controllers);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name == "memory") {
        return CgroupMemoryFiles{"/sys/fs/cgroup/memory", path, "memory.limit_in_bytes",
                                 "memory.usage_in_bytes", "total_inactive_file"};
      }
    }
    if (line.rfind("0::", 0) == 0) {
      found = CgroupMemoryFiles{"/sys/fs/cgroup", path, "memory.max", "memory.current",
                                "inactive_file"};
    }
  }
  return found;  // v1's memory line wins over the v2 line of a hybrid mount
}

// Room left under the tightest memory limit of this process's cgroup and its ancestors (Slurm
// and systemd put jobs in nested cgroups), usage counted without the inactive page cache; -1
// without a limit.
int64_t cgroup_room() {
  const auto cgroup = memory_cgroup();
  if (!cgroup) return -1;
  int64_t room = -1;
  std::string path = cgroup->path;
  for (;;) {
    const std::string dir = cgroup->root + (path == "/" ? "" : path);
    const int64_t limit = read_bytes(dir + "/" + cgroup->limit);
    const int64_t usage = read_bytes(dir + "/" + cgroup->usage);
    if (limit > 0 && limit < (int64_t(1) << 60) && usage >= 0) {
      const int64_t inactive = keyed_value(dir + "/memory.stat", cgroup->inactive);
      const int64_t used = usage - std::max<int64_t>(0, inactive);
      const int64_t left = std::max<int64_t>(0, limit - used);
      room = room < 0 ? left : std::min(room, left);
    }
    if (path.empty() || path == "/") break;
    path = path.substr(0, path.find_last_of('/'));
  }
  return room;
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
