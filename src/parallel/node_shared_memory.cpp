#include "parallel/node_shared_memory.h"

#include <algorithm>
#include <cstdint>
#include <exception>

#include <sys/statvfs.h>

#include "common/check.h"
#include "parallel/collective_watchdog.h"
#include "parallel/mpi_communicator.h"

namespace uoe {
namespace {

constexpr int64_t kAlignment = 64;                     // of the block and of every region
constexpr const char* kBackingDirectory = "/dev/shm";  // Open MPI's osc_sm_backing_directory

}  // namespace

std::unique_ptr<NodeSharedMemory> NodeSharedMemory::create_if_single_node(
    const MpiCommunicator& owner) {
  const MPI_Comm comm = owner.handle();
  MPI_Comm node_comm;
  MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_comm));
  int comm_size = 0, node_size = 0;
  MPI_CHECK(MPI_Comm_size(comm, &comm_size));
  MPI_CHECK(MPI_Comm_size(node_comm, &node_size));
  // Every rank sees the same verdict: the node communicators partition `comm`, so one of them
  // holds every rank exactly when all do.
  if (node_size != comm_size) {
    MPI_Comm_free(&node_comm);
    return nullptr;
  }
  MPI_CHECK(MPI_Comm_set_errhandler(node_comm, MPI_ERRORS_RETURN));
  return std::unique_ptr<NodeSharedMemory>(new NodeSharedMemory(node_comm, owner));
}

NodeSharedMemory::NodeSharedMemory(MPI_Comm node_comm, const Communicator& owner)
    : comm_(node_comm), owner_(owner) {}

NodeSharedMemory::~NodeSharedMemory() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  // Freeing is collective (a barrier inside MPI_Win_free): a rank unwinding from an error must
  // not wait there for ranks that will never come; the block goes with the process.
  if (finalised || std::uncaught_exceptions() > 0) return;
  release();
  MPI_Comm_free(&comm_);
}

void NodeSharedMemory::release() {
  if (window_ == MPI_WIN_NULL) return;
  MPI_Win_unlock_all(window_);
  MPI_Win_free(&window_);
  window_ = MPI_WIN_NULL;
  data_ = nullptr;
  bytes_ = 0;
}

void NodeSharedMemory::reserve(const std::vector<int64_t>& region_bytes) {
  const auto rounded = [](int64_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  };
  std::vector<int64_t> capacities = region_capacities_;
  capacities.resize(region_bytes.size(), 0);
  bool grow = window_ == MPI_WIN_NULL || region_bytes.size() != region_capacities_.size();
  for (size_t i = 0; i < region_bytes.size(); ++i) {
    if (region_bytes[i] > capacities[i]) {
      // A quarter of headroom, so that slowly growing batches reallocate rarely.
      capacities[i] = rounded(region_bytes[i] + region_bytes[i] / 4);
      grow = true;
    }
  }
  if (!grow) return;
  std::vector<int64_t> offsets(capacities.size(), 0);
  int64_t total = 0;
  for (size_t i = 0; i < capacities.size(); ++i) {
    offsets[i] = total;
    total += capacities[i];
  }
  allocate(total);  // may throw, leaving the current block as it was
  region_capacities_ = std::move(capacities);
  region_offsets_ = std::move(offsets);
}

void NodeSharedMemory::allocate(int64_t bytes) {
  constexpr int64_t kPage = 4096;
  const int64_t wanted = std::max<int64_t>(kPage, (bytes + kPage - 1) / kPage * kPage) + kAlignment;
  check_backing_space(wanted - bytes_);
  release();
  int rank = 0;
  MPI_CHECK(MPI_Comm_rank(comm_, &rank));
  void* own = nullptr;
  const CollectiveScope watched("node-shared memory allocation", owner_);
  MPI_CHECK(MPI_Win_allocate_shared(rank == 0 ? static_cast<MPI_Aint>(wanted) : 0, 1, MPI_INFO_NULL,
                                    comm_, &own, &window_));
  MPI_CHECK(MPI_Win_set_errhandler(window_, MPI_ERRORS_RETURN));
  MPI_Aint size = 0;
  int unit = 0;
  void* base = nullptr;
  MPI_CHECK(MPI_Win_shared_query(window_, 0, &size, &unit, &base));
  // Passive-target epoch for the window's lifetime: loads and stores plus fence() from here on.
  MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_));
  // Open MPI places the block after a header, only 8-byte aligned; the mapping is page-aligned
  // on every rank, so the same skip aligns it everywhere.
  const auto address = reinterpret_cast<uintptr_t>(base);
  const int64_t skip = static_cast<int64_t>((kAlignment - address % kAlignment) % kAlignment);
  data_ = static_cast<char*>(base) + skip;
  bytes_ = static_cast<int64_t>(size) - skip;
}

void NodeSharedMemory::check_backing_space(int64_t extra_bytes) const {
  // Open MPI backs the window with a sparse file there: a block larger than the free space would
  // end in SIGBUS at first touch. All ranks see the same file system; they still agree on the
  // verdict, so that none is left waiting in the allocation.
  struct statvfs info {};
  int enough = 1;
  double free_mib = -1;
  if (::statvfs(kBackingDirectory, &info) == 0) {
    const double free_bytes = double(info.f_bavail) * double(info.f_frsize);
    free_mib = free_bytes / double(1 << 20);
    enough = free_bytes >= double(extra_bytes) ? 1 : 0;
  }
  {
    const CollectiveScope watched("all_reduce", owner_);
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &enough, 1, MPI_INT, MPI_MIN, comm_));
  }
  if (!enough) {
    throw CollectiveError(
        c10::str("node-shared memory for the token dispatch needs ", extra_bytes >> 20,
                 " MiB more in ", kBackingDirectory, ", which has ", int64_t(free_mib),
                 " MiB free: enlarge it (docker run --shm-size) or set "
                 "parallel.shared_memory_dispatch: false"),
        2);
  }
}

void NodeSharedMemory::fence() {
  UOE_ASSERT(window_ != MPI_WIN_NULL, "NodeSharedMemory::fence before reserve");
  MPI_CHECK(MPI_Win_sync(window_));
  {
    const CollectiveScope watched("node-shared memory fence", owner_);
    MPI_CHECK(MPI_Barrier(comm_));
  }
  MPI_CHECK(MPI_Win_sync(window_));
}

}  // namespace uoe
