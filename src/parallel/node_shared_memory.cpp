#include "parallel/node_shared_memory.h"

#include <algorithm>
#include <cstdint>
#include <exception>

#include "common/check.h"
#include "parallel/mpi_communicator.h"

namespace uoe {

std::unique_ptr<NodeSharedMemory> NodeSharedMemory::create_if_single_node(MPI_Comm comm) {
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
  return std::unique_ptr<NodeSharedMemory>(new NodeSharedMemory(node_comm));
}

NodeSharedMemory::NodeSharedMemory(MPI_Comm node_comm) : comm_(node_comm) {}

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
  constexpr int64_t kAlignment = 64;
  const auto rounded = [](int64_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  };
  bool grow = window_ == MPI_WIN_NULL || region_bytes.size() != region_capacities_.size();
  region_capacities_.resize(region_bytes.size(), 0);
  for (size_t i = 0; i < region_bytes.size(); ++i)
    grow = grow || region_bytes[i] > region_capacities_[i];
  if (!grow) return;
  // A quarter of headroom per growing region, so that slowly growing batches reallocate rarely.
  int64_t total = 0;
  region_offsets_.assign(region_bytes.size(), 0);
  for (size_t i = 0; i < region_bytes.size(); ++i) {
    if (region_bytes[i] > region_capacities_[i]) {
      region_capacities_[i] = rounded(region_bytes[i] + region_bytes[i] / 4);
    }
    region_offsets_[i] = total;
    total += region_capacities_[i];
  }
  allocate(total);
}

void NodeSharedMemory::allocate(int64_t bytes) {
  constexpr int64_t kPage = 4096, kAlignment = 64;
  const int64_t wanted = std::max<int64_t>(kPage, (bytes + kPage - 1) / kPage * kPage) + kAlignment;
  release();
  int rank = 0;
  MPI_CHECK(MPI_Comm_rank(comm_, &rank));
  void* own = nullptr;
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

void NodeSharedMemory::fence() {
  UOE_ASSERT(window_ != MPI_WIN_NULL, "NodeSharedMemory::fence before reserve");
  MPI_CHECK(MPI_Win_sync(window_));
  MPI_CHECK(MPI_Barrier(comm_));
  MPI_CHECK(MPI_Win_sync(window_));
}

}  // namespace uoe
