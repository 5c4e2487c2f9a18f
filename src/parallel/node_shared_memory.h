#pragma once
// One block of memory that every rank of a communicator maps into its address space, for ranks
// that share a node: an MPI-3 shared-memory window (MPI_Win_allocate_shared) owned by the
// communicator's rank 0 and mapped by the others. Ranks exchange data by writing their part and
// reading the others' parts in place, with fence() between (the way DeepEP's intranode kernels
// use peer memory over NVLink): the data moves once, with no message protocol in between.
//
// Every call is collective over the communicator, in the same order on all ranks.
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace uoe {

class Communicator;
class MpiCommunicator;

class NodeSharedMemory {
 public:
  // Null when the ranks of `owner` do not all share one node. Collective over `owner`, which
  // must outlive the block (its name and size are what the collective watchdog reports).
  static std::unique_ptr<NodeSharedMemory> create_if_single_node(const MpiCommunicator& owner);
  ~NodeSharedMemory();
  NodeSharedMemory(const NodeSharedMemory&) = delete;
  NodeSharedMemory& operator=(const NodeSharedMemory&) = delete;

  // The block is cut into regions that only grow: region i holds at least region_bytes[i]
  // from here on, at a place that stays the same until a later call grows some region. Every
  // rank passes the same values. Growing replaces the block (its contents are lost), so callers
  // keep nothing in it between exchanges. Because a region never moves or shrinks while the
  // block stays, exchanges that cut a region into slots differently still touch only that
  // region: whether a rank may write it depends only on the fences since its last readers.
  // When the backing file system (/dev/shm) cannot hold the grown block, every rank throws
  // CollectiveError (exit code 2, one message) and the current block stays as it was.
  void reserve(const std::vector<int64_t>& region_bytes);

  // Region i, at the same bytes on every rank (the address may differ), 64-byte aligned.
  char* region(size_t i) const { return data_ + region_offsets_.at(i); }
  int64_t bytes() const { return bytes_; }

  // Writes any rank made before fence() are visible to every rank after it (MPI_Win_sync,
  // barrier, MPI_Win_sync). Also a barrier: after it, no rank is still reading what was there.
  void fence();

 private:
  NodeSharedMemory(MPI_Comm node_comm, const Communicator& owner);
  void release();

  void allocate(int64_t bytes);
  // Throws CollectiveError (on every rank) when the backing file system cannot hold
  // `extra_bytes` more.
  void check_backing_space(int64_t extra_bytes) const;

  MPI_Comm comm_;  // the window's own communicator (a shared-memory split of the caller's)
  const Communicator& owner_;  // the same ranks
  MPI_Win window_ = MPI_WIN_NULL;
  char* data_ = nullptr;
  int64_t bytes_ = 0;
  std::vector<int64_t> region_capacities_;  // bytes, multiples of 64
  std::vector<int64_t> region_offsets_;
};

}  // namespace uoe
