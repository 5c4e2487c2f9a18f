#pragma once
// Communicator: the collectives uoe needs, independent of the transport. Modelled on c10d's
// Backend: tensors in, tensors out, split sizes in rows (dim 0). Implementations: MPI (CPU
// tensors, always built) and NCCL (CUDA tensors, built when CUDA and NCCL are found).
//
// Every call is collective over the communicator: all ranks must make the same calls in the same
// order, also ranks that send or receive zero rows. Failures throw with backend, rank and host.
//
// Only collectives live here. What one backend alone offers stays with it: node-shared memory
// (an MPI-3 window) is MpiCommunicator's, handed to the shared-memory dispatch transport only
// (node_shared_memory in parallel/mpi_communicator.h).
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace uoe {

enum class ReduceOp { kSum, kMax, kMin };

// An exchange in flight (Communicator::start_all_to_all_rows). wait() completes it; destroying
// it also waits, so that no exchange is abandoned while other collectives follow.
class PendingExchange {
 public:
  virtual ~PendingExchange() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend_name() const = 0;

  // What the group is, for messages: "world" until named (ProcessGroups names its groups).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // In place over all ranks. bf16/f16 are reduced in fp32 where the transport cannot.
  virtual void all_reduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::kSum) = 0;

  // Rows (dim 0) of `input` go to ranks in order: input_splits[r] rows to rank r; output receives
  // output_splits[r] rows from rank r. Empty split vectors mean equal splits. Both tensors must be
  // contiguous with the same trailing shape; `output` must already have sum(output_splits) rows.
  virtual void all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                                 const std::vector<int64_t>& output_splits,
                                 const std::vector<int64_t>& input_splits) = 0;

  // all_to_all_single with the row permutations around it fused where the backend can:
  // the rows sent are input[send_rows] in that order (send_rows [sum(input_splits)] int64, may
  // repeat rows; undefined = all rows in order), and the i-th row received is written to
  // output[recv_rows[i]] (recv_rows [sum(output_splits)] int64, a permutation; undefined = in
  // order). Index tensors live on the tensors' device. This default gathers and scatters around
  // all_to_all_single (two extra passes over the rows); the MPI backend describes the rows with
  // derived datatypes instead, so that the rows move once.
  virtual void all_to_all_rows(torch::Tensor& output, const torch::Tensor& input,
                               const std::vector<int64_t>& output_splits,
                               const std::vector<int64_t>& input_splits,
                               const torch::Tensor& send_rows, const torch::Tensor& recv_rows);

  // all_to_all_rows that returns while the rows may still be moving, so that independent work
  // can run before wait(). `output` and `input` must stay alive and untouched until then. This
  // default exchanges before returning (already complete); the MPI backend starts an
  // MPI_Ialltoallw; the NCCL backend enqueues on a side stream and wait() orders the default
  // stream after it with an event.
  virtual std::unique_ptr<PendingExchange> start_all_to_all_rows(
      torch::Tensor& output, const torch::Tensor& input, const std::vector<int64_t>& output_splits,
      const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
      const torch::Tensor& recv_rows);

  // output = concatenation of every rank's `input` along dim 0 (rank order): [size * N, ...].
  virtual void all_gather(torch::Tensor& output, const torch::Tensor& input) = 0;

  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;

  // Ranks with the same `color` form a new communicator, ordered by (key, old rank).
  virtual std::shared_ptr<Communicator> split(int color, int key) const = 0;

 private:
  std::string name_ = "world";
};

using CommunicatorPtr = std::shared_ptr<Communicator>;

// Convenience: sum of one integer over all ranks.
int64_t all_reduce_sum(Communicator& comm, int64_t value);

}  // namespace uoe
