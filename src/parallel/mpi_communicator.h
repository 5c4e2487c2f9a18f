#pragma once
// MPI backend for CPU tensors, and the process-wide MPI runtime.
#include <mpi.h>

#include "parallel/communicator.h"
#include "parallel/node_shared_memory.h"

namespace uoe {

// Initialises MPI (MPI_THREAD_SERIALIZED) on construction and finalises it on destruction.
// Errors on MPI_COMM_WORLD return codes instead of aborting, so MPI_CHECK can report them.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  // Ends the whole job (all ranks) with `code`; used by top-level error handlers.
  [[noreturn]] static void abort(int code);
  static std::string hostname();
  // Number of ranks on this node (from a shared-memory split of MPI_COMM_WORLD).
  static int local_size();
  // The lowest world rank on this node (same split): two ranks share a node exactly when their
  // node ids are equal. On one machine a "node" is what MPI's launcher calls one (one orted).
  static int node_id();
};

// Throws InternalError with the MPI error string, rank and host when `code` != MPI_SUCCESS.
void mpi_check(int code, const char* call, const char* file, int line);
#define MPI_CHECK(call) ::uoe::mpi_check((call), #call, __FILE__, __LINE__)

// MPI moves host memory. Tensors on another device (CUDA, with parallel.backend: mpi) are staged:
// copied to a host buffer, exchanged, and the result copied back (`.cpu()` waits for the device's
// queued work first), so the same code runs EP > 1 on one GPU. Index tensors follow their data.
class MpiCommunicator final : public Communicator {
 public:
  // Wraps `comm`; frees it on destruction when `owned`.
  explicit MpiCommunicator(MPI_Comm comm, bool owned = false);
  ~MpiCommunicator() override;

  static std::shared_ptr<MpiCommunicator> world();

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend_name() const override { return "mpi"; }
  MPI_Comm handle() const { return comm_; }

  void all_reduce(torch::Tensor& tensor, ReduceOp op) override;
  void all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                         const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits) override;
  // One MPI_Alltoallw whose per-peer datatypes index the rows directly (no scatter pass; send
  // rows scattered one by one are gathered first, see stage_scattered_send).
  void all_to_all_rows(torch::Tensor& output, const torch::Tensor& input,
                       const std::vector<int64_t>& output_splits,
                       const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
                       const torch::Tensor& recv_rows) override;
  // The same as one MPI_Ialltoallw; wait() is MPI_Wait. Open MPI progresses it inside MPI calls
  // (the start and the wait), so work in between overlaps only what those calls get done.
  std::unique_ptr<PendingExchange> start_all_to_all_rows(torch::Tensor& output,
                                                         const torch::Tensor& input,
                                                         const std::vector<int64_t>& output_splits,
                                                         const std::vector<int64_t>& input_splits,
                                                         const torch::Tensor& send_rows,
                                                         const torch::Tensor& recv_rows) override;
  void all_gather(torch::Tensor& output, const torch::Tensor& input) override;
  void broadcast(torch::Tensor& tensor, int root) override;
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) const override;
  std::shared_ptr<MpiCommunicator> split_mpi(int color, int key) const;
  // Memory every rank of this communicator maps (parallel/node_shared_memory.h): an MPI-3
  // shared-memory window owned by the communicator; null when the ranks span nodes. Collective
  // the first time. Not part of Communicator: for the shared-memory dispatch transport (and the
  // start-up line that names the transport).
  NodeSharedMemory* node_shared_memory();

  // For tests: stage CPU tensors too (through a separate host copy), so that the CPU suite runs
  // the staging of CUDA tensors except for the device copies themselves. Splits inherit it.
  void set_stage_cpu_tensors(bool on) { stage_cpu_tensors_ = on; }

 private:
  bool staged(const torch::Tensor& t) const { return stage_cpu_tensors_ || !t.device().is_cpu(); }
  // The collectives on host tensors.
  void all_reduce_host(torch::Tensor& tensor, ReduceOp op);
  void all_to_all_single_host(torch::Tensor& output, const torch::Tensor& input,
                              const std::vector<int64_t>& output_splits,
                              const std::vector<int64_t>& input_splits);
  std::unique_ptr<PendingExchange> start_all_to_all_rows_host(
      torch::Tensor& output, const torch::Tensor& input, const std::vector<int64_t>& output_splits,
      const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
      const torch::Tensor& recv_rows);
  void all_gather_host(torch::Tensor& output, const torch::Tensor& input);
  void broadcast_host(torch::Tensor& tensor, int root);

  bool stage_cpu_tensors_ = false;
  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0;
  int size_ = 1;
  bool node_memory_probed_ = false;
  std::unique_ptr<NodeSharedMemory> node_memory_;  // on its own communicator
};

// `comm`'s node-shared memory when it is an MPI communicator (MpiCommunicator::node_shared_memory);
// null for other backends, which have none. Collective over `comm` the first time.
NodeSharedMemory* node_shared_memory(Communicator& comm);

}  // namespace uoe
