#pragma once
// Host memory of this process and its node, for the start-up memory plan and summary.json.
#include <cstdint>
#include <string>

namespace uoe {

// Largest resident set size of this process so far (getrusage ru_maxrss), in bytes.
int64_t peak_rss_bytes();

// Resident set size of this process now (VmRSS of /proc/self/status), in bytes; 0 if unknown.
int64_t current_rss_bytes();

// Memory this process may still use: MemAvailable of /proc/meminfo, or the room left under the
// cgroup's limit (v2 memory.max - memory.current, v1 memory.limit_in_bytes - usage_in_bytes)
// when that is lower. `source` (optional) names which one it was.
int64_t available_memory_bytes(std::string* source = nullptr);

}  // namespace uoe
