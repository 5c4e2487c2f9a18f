#include "parallel/collective_watchdog.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>

#include "common/log.h"
#include "parallel/communicator.h"

namespace uoe {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The operation in flight, written by the main thread and read by the watchdog thread. start_ns
// is stored last (release) and read first (acquire), then again after the other fields: an
// unchanged value means the fields belong to it. Trivially destructible: the detached thread may
// outlive static destruction at exit.
struct InFlight {
  std::atomic<int64_t> start_ns{0};  // 0: none
  std::atomic<const char*> operation{nullptr};
  std::atomic<const Communicator*> comm{nullptr};
  std::atomic<int64_t> step{0};
  std::atomic<int64_t> timeout_ns{0};
};
InFlight g_in_flight;

// Collectives queued on a device, oldest first. The group is copied: its communicator may be gone
// before the watchdog looks again.
struct QueuedCollective {
  const char* operation;
  std::string group;
  int ranks;
  int64_t start_ns;
  std::function<bool()> completed;
};
// Handed over from the ranks' threads to the queued-collective watchdog thread. The mutex is held
// only to append or take entries, never around a CUDA call.
struct QueuedCollectives {
  std::mutex mutex;
  std::deque<QueuedCollective> incoming;
};
// Never destroyed: the detached watchdog threads may use it during static destruction at exit.
QueuedCollectives& queued_collectives() {
  static auto* queued = new QueuedCollectives;
  return *queued;
}

[[noreturn]] void report_and_exit(const char* operation, const std::string& group, int ranks,
                                  int64_t timeout_ns) {
  const int64_t step = g_in_flight.step.load(std::memory_order_relaxed);
  const std::string when = step > 0 ? "at step " + std::to_string(step) : "before the first step";
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "%s error: collective %s on %s (%d ranks) did not complete within ddp_timeout=%g s %s\n",
      rank_tag().c_str(), operation, group.c_str(), ranks, double(timeout_ns) / 1e9, when.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

void check_in_flight(int64_t timeout) {
  const int64_t start = g_in_flight.start_ns.load(std::memory_order_acquire);
  if (start == 0 || now_ns() - start <= timeout) return;
  const char* operation = g_in_flight.operation.load(std::memory_order_relaxed);
  const Communicator* comm = g_in_flight.comm.load(std::memory_order_relaxed);
  if (g_in_flight.start_ns.load(std::memory_order_acquire) != start) return;  // it ended
  report_and_exit(operation, comm->name(), comm->size(), timeout);
}

// Wait between checks: about a second; more often for short timeouts (tests).
std::chrono::nanoseconds check_interval(int64_t timeout) {
  return std::chrono::nanoseconds(std::clamp<int64_t>(timeout / 4, 10'000'000, 1'000'000'000));
}

void watch() {
  for (;;) {
    const int64_t timeout = g_in_flight.timeout_ns.load(std::memory_order_relaxed);
    std::this_thread::sleep_for(check_interval(timeout));
    check_in_flight(timeout);
  }
}

// A thread of its own, so that a completion query that blocks inside the CUDA driver (a hung
// kernel can do that) stops neither the blocking-collective checks nor a rank that queues more.
void watch_queued() {
  std::deque<QueuedCollective> oldest_first;  // this thread's only
  for (;;) {
    const int64_t timeout = g_in_flight.timeout_ns.load(std::memory_order_relaxed);
    std::this_thread::sleep_for(check_interval(timeout));
    {
      QueuedCollectives& queued = queued_collectives();
      const std::lock_guard<std::mutex> lock(queued.mutex);
      std::move(queued.incoming.begin(), queued.incoming.end(), std::back_inserter(oldest_first));
      queued.incoming.clear();
    }
    while (!oldest_first.empty() && oldest_first.front().completed()) oldest_first.pop_front();
    if (!oldest_first.empty() && now_ns() - oldest_first.front().start_ns > timeout) {
      const QueuedCollective& stuck = oldest_first.front();
      report_and_exit(stuck.operation, stuck.group, stuck.ranks, timeout);
    }
  }
}

}  // namespace

void start_collective_watchdog(double timeout_s) {
  g_in_flight.timeout_ns.store(int64_t(timeout_s * 1e9), std::memory_order_relaxed);
  static std::once_flag started;
  std::call_once(started, [] { std::thread(watch).detach(); });
}

void set_watchdog_step(int64_t step) { g_in_flight.step.store(step, std::memory_order_relaxed); }

bool collective_watchdog_running() {
  return g_in_flight.timeout_ns.load(std::memory_order_relaxed) > 0;
}

void watch_queued_collective(const char* operation, const Communicator& comm,
                             std::function<bool()> completed) {
  if (!collective_watchdog_running()) return;
  static std::once_flag started;
  std::call_once(started, [] { std::thread(watch_queued).detach(); });
  QueuedCollective collective{operation, comm.name(), comm.size(), now_ns(), std::move(completed)};
  QueuedCollectives& queued = queued_collectives();
  const std::lock_guard<std::mutex> lock(queued.mutex);
  queued.incoming.push_back(std::move(collective));
}

CollectiveScope::CollectiveScope(const char* operation, const Communicator& comm)
    : outer_operation_(g_in_flight.operation.load(std::memory_order_relaxed)),
      outer_comm_(g_in_flight.comm.load(std::memory_order_relaxed)),
      outer_start_ns_(g_in_flight.start_ns.load(std::memory_order_relaxed)) {
  g_in_flight.operation.store(operation, std::memory_order_relaxed);
  g_in_flight.comm.store(&comm, std::memory_order_relaxed);
  g_in_flight.start_ns.store(now_ns(), std::memory_order_release);
}

CollectiveScope::~CollectiveScope() {
  g_in_flight.start_ns.store(0, std::memory_order_release);
  g_in_flight.operation.store(outer_operation_, std::memory_order_relaxed);
  g_in_flight.comm.store(outer_comm_, std::memory_order_relaxed);
  g_in_flight.start_ns.store(outer_start_ns_, std::memory_order_release);
}

}  // namespace uoe
