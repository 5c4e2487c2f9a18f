// The collective watchdog (parallel/collective_watchdog.h): an operation that outlives the timeout
// ends the process with one line naming it, its group and the step; shorter ones do not.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "parallel/collective_watchdog.h"
#include "parallel/mpi_communicator.h"

namespace uoe {
namespace {

// In the forked child of a death test: no MPI call is made there, only the scopes.
[[noreturn]] void slow_then_stuck(Communicator& comm) {
  // The margins are wide (10x, 2x) so that a loaded machine that wakes this thread late does not
  // make the short operation look stuck.
  start_collective_watchdog(0.5);
  set_watchdog_step(6);
  {
    const CollectiveScope fast("all_reduce", comm);  // well within the timeout
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // nothing in flight: no timeout
  set_watchdog_step(7);
  const CollectiveScope stuck("barrier", comm);
  std::this_thread::sleep_for(std::chrono::seconds(30));
  std::_Exit(0);  // not reached when the watchdog works
}

TEST(CollectiveWatchdog, EndsTheProcessNamingTheStuckCollectiveAndStep) {
  auto comm = MpiCommunicator::world();
  comm->set_name("ep group");
  const std::string expected = "\\] error: collective barrier on ep group \\(" +
                               std::to_string(comm->size()) +
                               " ranks\\) did not complete within ddp_timeout=0.5 s at step 7";
  EXPECT_EXIT(slow_then_stuck(*comm), ::testing::ExitedWithCode(1), expected);
}

// A collective queued on a device (NCCL) is watched through its completion: one that completes is
// forgotten, one that never does ends the process with the same line.
[[noreturn]] void queued_then_stuck(Communicator& comm) {
  start_collective_watchdog(0.5);
  set_watchdog_step(3);
  // Completes 0.2 s after it was queued (the watchdog looks every 0.125 s): queried while
  // incomplete, then forgotten; a late watchdog only finds it completed.
  const auto queued = std::chrono::steady_clock::now();
  auto queries = std::make_shared<std::atomic<int>>(0);
  watch_queued_collective("all_reduce (NCCL)", comm, [queued, queries] {
    ++*queries;
    return std::chrono::steady_clock::now() - queued > std::chrono::milliseconds(200);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // within the timeout: no exit
  const int seen = queries->load();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (seen == 0 || queries->load() != seen) std::_Exit(2);  // never queried, or still queried
  watch_queued_collective("all_to_all (NCCL)", comm, [] { return false; });
  std::this_thread::sleep_for(std::chrono::seconds(30));
  std::_Exit(0);  // not reached when the watchdog works
}

TEST(CollectiveWatchdog, EndsTheProcessNamingAQueuedCollectiveThatNeverCompletes) {
  auto comm = MpiCommunicator::world();
  comm->set_name("world");
  const std::string expected = "\\] error: collective all_to_all \\(NCCL\\) on world \\(" +
                               std::to_string(comm->size()) +
                               " ranks\\) did not complete within ddp_timeout=0.5 s at step 3";
  EXPECT_EXIT(queued_then_stuck(*comm), ::testing::ExitedWithCode(1), expected);
}

}  // namespace
}  // namespace uoe
