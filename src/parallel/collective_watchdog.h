#pragma once
// The collective watchdog (config key `ddp_timeout`, seconds, as HF's TrainingArguments): turns a
// collective that never completes (a peer hung or gone, a cut link) into one error line and an
// exit, instead of a job that hangs until its wall-clock limit.
//
// The MPI backend marks the start and end of each blocking operation with a CollectiveScope (two
// clock reads and a few relaxed atomic stores: no lock, no allocation). A background thread wakes
// about once a second; when the operation in flight has run longer than the timeout it prints
//   [rank r@host] error: collective all_reduce on world (4 ranks) did not complete within
//   ddp_timeout=5 s at step 3
// and ends the process with exit code 1 (std::_Exit: the main thread is blocked inside MPI, which
// is initialised MPI_THREAD_SERIALIZED, so the watchdog makes no MPI call). mpirun / srun
// --kill-on-bad-exit then end the other ranks; any of them stuck in a collective too ends the same
// way on its own.
//
// A collective that the NCCL backend queues on a CUDA stream returns before it runs, so the host
// never blocks inside it: a hang would show only as a wait at the next device-to-host copy. Such
// collectives are watched through their completion (watch_queued_collective) by a second thread,
// so that a completion query stuck in the CUDA driver cannot stop the first: the oldest one still
// incomplete after the timeout ends the process with the same line. Their time counts from when
// they were queued, so it includes the GPU work queued before them (at most about a step).
#include <cstdint>
#include <functional>

namespace uoe {

class Communicator;

// Starts the watchdog thread (once per process; a later call sets a new timeout). `timeout_s` > 0.
void start_collective_watchdog(double timeout_s);

// The optimizer step in progress (1-based), named in the error line; 0 (the default) before the
// first step.
void set_watchdog_step(int64_t step);

// Whether start_collective_watchdog has run (queued collectives are not tracked before).
bool collective_watchdog_running();

// Watches a collective of `comm` that was queued on a device, from now until `completed` returns
// true. `completed` is called on the queued-collective thread (started by the first call) about
// once a second, outside any lock the caller could wait for (it must be safe there: a CUDA event
// query), and destroyed there once it returned true. Collectives complete in the order they were
// queued on one stream; the watchdog checks them oldest first.
void watch_queued_collective(const char* operation, const Communicator& comm,
                             std::function<bool()> completed);

// Marks one blocking collective of `comm` as in flight for its lifetime. Nests: an inner scope
// restores the outer one when it ends. Unwatched until start_collective_watchdog.
class CollectiveScope {
 public:
  CollectiveScope(const char* operation, const Communicator& comm);
  ~CollectiveScope();
  CollectiveScope(const CollectiveScope&) = delete;
  CollectiveScope& operator=(const CollectiveScope&) = delete;

 private:
  const char* outer_operation_;
  const Communicator* outer_comm_;
  int64_t outer_start_ns_;
};

}  // namespace uoe
