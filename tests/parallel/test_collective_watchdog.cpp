// The collective watchdog (parallel/collective_watchdog.h): an operation that outlives the timeout
// ends the process with one line naming it, its group and the step; shorter ones do not.
#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
}  // namespace uoe
