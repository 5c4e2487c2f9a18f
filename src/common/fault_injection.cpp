#include "common/fault_injection.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/log.h"

namespace uoe {

void fault_point(const char* point, int64_t step, int rank) {
  const char* spec = std::getenv("UOE_INJECT_FAULT");
  if (spec == nullptr) return;
  const std::string value(spec);
  const auto colon = value.find(':');
  if (colon == std::string::npos) return;
  const std::string action = value.substr(0, colon), where = value.substr(colon + 1);
  const std::string here = std::string(point) + "@" + std::to_string(step);
  if (where != here && where != here + "@" + std::to_string(rank)) return;
  if (action == "throw")
    throw std::runtime_error("injected fault (UOE_INJECT_FAULT=" + value + ")");
  if (action == "kill") {
    log_all("UOE_INJECT_FAULT=", value, ": killing this process with SIGKILL");
    std::raise(SIGKILL);
  }
  if (action == "hang") {
    log_all("UOE_INJECT_FAULT=", value, ": this process stops here");
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
}

}  // namespace uoe
