#include "parallel/mpi_communicator.h"

#include <unistd.h>

#include <climits>
#include <cstring>
#include <numeric>

#include "common/check.h"
#include "common/leak_check.h"
#include "common/log.h"
#include "parallel/collective_watchdog.h"
#include "parallel/split_sizes.h"

namespace uoe {
namespace {

MPI_Datatype mpi_datatype(c10::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    case torch::kInt8:
      return MPI_INT8_T;
    case torch::kBool:
      return MPI_C_BOOL;
    // Moved as raw 16-bit words; reductions convert to fp32 first.
    case torch::kBFloat16:
    case torch::kFloat16:
      return MPI_UINT16_T;
    default:
      UOE_ASSERT(false, "mpi backend: unsupported dtype ", type);
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

void check_contiguous(const torch::Tensor& t, const char* what) {
  UOE_ASSERT(t.is_contiguous(), "mpi backend: ", what, " needs a contiguous tensor");
}

void check_cpu_contiguous(const torch::Tensor& t, const char* what) {
  UOE_ASSERT(t.device().is_cpu(), "mpi backend: ", what, " needs a CPU tensor, got ", t.device());
  check_contiguous(t, what);
}

// A derived datatype of one row, so that counts stay small even for very large messages.
class RowType {
 public:
  RowType(c10::ScalarType dtype, int64_t row_elems) {
    UOE_ASSERT(row_elems <= INT_MAX, "row of ", row_elems, " elements is too large for MPI");
    MPI_CHECK(MPI_Type_contiguous(static_cast<int>(std::max<int64_t>(row_elems, 1)),
                                  mpi_datatype(dtype), &type_));
    MPI_CHECK(MPI_Type_commit(&type_));
  }
  ~RowType() { MPI_Type_free(&type_); }
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

std::vector<int> to_int_counts(const std::vector<int64_t>& splits) {
  std::vector<int> counts(splits.size());
  for (size_t i = 0; i < splits.size(); ++i) {
    UOE_ASSERT(splits[i] <= INT_MAX, "all_to_all split of ", splits[i], " rows exceeds INT_MAX");
    counts[i] = static_cast<int>(splits[i]);
  }
  return counts;
}

std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> displs(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i) displs[i] = displs[i - 1] + counts[i - 1];
  return displs;
}

// For each peer, a datatype that picks that peer's rows out of a buffer: peer p's rows are
// buffer rows rows[o_p], ..., rows[o_p + splits[p] - 1] (o_p = sum of the earlier splits; the
// identity when `rows` is undefined), runs of consecutive rows merged into one block. Used with
// count 1 and displacement 0 in MPI_Alltoallw. The rows of `own_rank` get no datatype (count 0):
// they are listed in own_rows() for a direct copy, which costs one pass where MPI's self
// exchange of derived datatypes packs and unpacks (two); they index a buffer of `own_buffer_rows`
// rows, which may be another one than the peers' (a staged send keeps the own rows in place).
class PeerRowTypes {
 public:
  PeerRowTypes(const RowType& row, int64_t row_bytes, int64_t buffer_rows, int64_t own_buffer_rows,
               const std::vector<int64_t>& splits, const torch::Tensor& rows, int own_rank,
               const char* which) {
    const int64_t total = std::accumulate(splits.begin(), splits.end(), int64_t{0});
    torch::Tensor index;
    if (rows.defined()) {
      UOE_ASSERT(rows.device().is_cpu() && rows.scalar_type() == torch::kInt64 && rows.dim() == 1,
                 "mpi backend: ", which, " rows must be a 1-D CPU int64 tensor");
      UOE_ASSERT(rows.numel() == total, "mpi backend: ", which, " rows has ", rows.numel(),
                 " entries, the splits sum to ", total);
      index = rows.contiguous();
    }
    const int64_t* picked = index.defined() ? index.data_ptr<int64_t>() : nullptr;
    std::vector<int> lengths;
    std::vector<MPI_Aint> starts;
    int64_t offset = 0;
    for (size_t peer = 0; peer < splits.size(); ++peer) {
      const int64_t count = splits[peer];
      const bool own = static_cast<int>(peer) == own_rank;
      lengths.clear();
      starts.clear();
      int64_t previous = -2;
      for (int64_t i = offset; i < offset + count; ++i) {
        const int64_t r = picked ? picked[i] : i;
        const int64_t limit = own ? own_buffer_rows : buffer_rows;
        UOE_ASSERT(r >= 0 && r < limit, "mpi backend: ", which, " row ", r, " out of range [0, ",
                   limit, ")");
        if (own) {
          own_rows_.push_back(r);
        } else if (r == previous + 1 && lengths.back() < INT_MAX) {
          ++lengths.back();
        } else {
          starts.push_back(static_cast<MPI_Aint>(r * row_bytes));
          lengths.push_back(1);
        }
        previous = r;
      }
      offset += count;
      MPI_Datatype type = row.get();
      if (!lengths.empty()) {
        MPI_CHECK(MPI_Type_create_hindexed(static_cast<int>(lengths.size()), lengths.data(),
                                           starts.data(), row.get(), &type));
        MPI_CHECK(MPI_Type_commit(&type));
        owned_.push_back(type);
      }
      types_.push_back(type);
      counts_.push_back(lengths.empty() ? 0 : 1);
    }
    displacements_.assign(splits.size(), 0);
  }
  ~PeerRowTypes() {
    for (MPI_Datatype& type : owned_) MPI_Type_free(&type);
  }
  PeerRowTypes(const PeerRowTypes&) = delete;
  PeerRowTypes& operator=(const PeerRowTypes&) = delete;

  const MPI_Datatype* types() const { return types_.data(); }
  const int* counts() const { return counts_.data(); }
  const int* displacements() const { return displacements_.data(); }
  const std::vector<int64_t>& own_rows() const { return own_rows_; }

 private:
  std::vector<int64_t> own_rows_;    // buffer rows of `own_rank`, in exchange order
  std::vector<MPI_Datatype> types_;  // [P]
  std::vector<MPI_Datatype> owned_;  // the committed ones, freed on destruction
  std::vector<int> counts_;          // [P] 1, or 0 for a peer without rows
  std::vector<int> displacements_;   // [P] zeros: the datatypes carry the offsets
};

}  // namespace

void mpi_check(int code, const char* call, const char* file, int line) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw InternalError(c10::str("MPI error ", code, " (", std::string(text, length), ") in ", call,
                               " at ", file, ":", line, " on ", rank_tag()));
}

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    const LeakCheckPause pause;  // OpenMPI's start-up state lives until exit
    MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
    // Backward passes call collectives from LibTorch's autograd worker thread (one thread at a
    // time, while the main thread waits in backward()): that needs MPI_THREAD_SERIALIZED.
    UOE_CHECK(provided >= MPI_THREAD_SERIALIZED, "this MPI library provides thread level ",
              provided, ", uoe needs MPI_THREAD_SERIALIZED (", int(MPI_THREAD_SERIALIZED), ")");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  set_log_identity(rank, hostname());
}

MpiRuntime::~MpiRuntime() {
  // Before MPI_Finalize unloads OpenMPI's components: what they still hold is reachable now,
  // while afterwards it would be reported as leaked, with stacks into unmapped code.
  check_leaks_now();
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

void MpiRuntime::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  int initialised = 0;
  MPI_Initialized(&initialised);
  int finalised = 0;
  MPI_Finalized(&finalised);
  int size = 1;
  if (initialised && !finalised) MPI_Comm_size(MPI_COMM_WORLD, &size);
  // A single process exits with its own code; a job is torn down by MPI_Abort.
  if (initialised && !finalised && size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

std::string MpiRuntime::hostname() {
  char name[256] = {0};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

int MpiRuntime::local_size() {
  MPI_Comm local;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local));
  int size = 1;
  MPI_Comm_size(local, &size);
  MPI_Comm_free(&local);
  return size;
}

int MpiRuntime::node_id() {
  MPI_Comm local;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local));
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &world_rank, 1, MPI_INT, MPI_MIN, local));
  MPI_Comm_free(&local);
  return world_rank;
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

MpiCommunicator::~MpiCommunicator() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (owned_ && !finalised) MPI_Comm_free(&comm_);
}

std::shared_ptr<MpiCommunicator> MpiCommunicator::world() {
  return std::make_shared<MpiCommunicator>(MPI_COMM_WORLD, false);
}

namespace {

// A host copy of `t` (always a new buffer, also for a CPU tensor), for a staged collective.
torch::Tensor host_copy(const torch::Tensor& t) {
  return t.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
}

// An uninitialised host buffer shaped like `t`, for a staged collective's result.
torch::Tensor host_buffer_like(const torch::Tensor& t) {
  return torch::empty(t.sizes(), t.options().device(torch::kCPU));
}

// `rows` (an index tensor on the data's device, or undefined) on the host.
torch::Tensor host_rows(const torch::Tensor& rows) {
  return rows.defined() ? rows.to(torch::kCPU) : rows;
}

// An in-place collective (`run` on a host tensor) on a host copy of `tensor`, copied back.
template <typename Run>
void staged_in_place(torch::Tensor& tensor, const char* what, Run run) {
  check_contiguous(tensor, what);
  auto host = host_copy(tensor);
  run(host);
  tensor.copy_(host);
}

// An out-of-place collective (`run(host_output, host_input)`) on a host copy of `input` into a host
// buffer, copied to `output`.
template <typename Run>
void staged_into(torch::Tensor& output, const torch::Tensor& input, Run run) {
  auto host_output = host_buffer_like(output);
  run(host_output, host_copy(input));
  output.copy_(host_output);
}

// A staged exchange in flight: the host exchange, then the received rows copied to `output`.
class StagedExchange final : public PendingExchange {
 public:
  StagedExchange(std::unique_ptr<PendingExchange> host, torch::Tensor output,
                 torch::Tensor host_output)
      : host_(std::move(host)), output_(std::move(output)), host_output_(std::move(host_output)) {}

  void wait() override {
    if (!host_) return;
    host_->wait();
    host_.reset();
    output_.copy_(host_output_);
  }

 private:
  std::unique_ptr<PendingExchange> host_;  // destroying it waits for the exchange
  torch::Tensor output_, host_output_;
};

}  // namespace

void MpiCommunicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  if (!staged(tensor)) return all_reduce_host(tensor, op);
  staged_in_place(tensor, "all_reduce", [&](torch::Tensor& host) { all_reduce_host(host, op); });
}

void MpiCommunicator::all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                                        const std::vector<int64_t>& output_splits,
                                        const std::vector<int64_t>& input_splits) {
  if (!staged(input) && !staged(output)) {
    return all_to_all_single_host(output, input, output_splits, input_splits);
  }
  check_exchange_tensors(output, input, input.device().type(), "mpi");
  staged_into(output, input, [&](torch::Tensor& host_output, const torch::Tensor& host_input) {
    all_to_all_single_host(host_output, host_input, output_splits, input_splits);
  });
}

std::unique_ptr<PendingExchange> MpiCommunicator::start_all_to_all_rows(
    torch::Tensor& output, const torch::Tensor& input, const std::vector<int64_t>& output_splits,
    const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
    const torch::Tensor& recv_rows) {
  if (!staged(input) && !staged(output)) {
    return start_all_to_all_rows_host(output, input, output_splits, input_splits, send_rows,
                                      recv_rows);
  }
  check_exchange_tensors(output, input, input.device().type(), "mpi");
  auto host_output = host_buffer_like(output);
  auto host = start_all_to_all_rows_host(host_output, host_copy(input), output_splits, input_splits,
                                         host_rows(send_rows), host_rows(recv_rows));
  return std::make_unique<StagedExchange>(std::move(host), output, std::move(host_output));
}

void MpiCommunicator::all_gather(torch::Tensor& output, const torch::Tensor& input) {
  if (!staged(input) && !staged(output)) return all_gather_host(output, input);
  check_contiguous(input, "all_gather");
  check_contiguous(output, "all_gather");
  staged_into(output, input, [&](torch::Tensor& host_output, const torch::Tensor& host_input) {
    all_gather_host(host_output, host_input);
  });
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  if (!staged(tensor)) return broadcast_host(tensor, root);
  staged_in_place(tensor, "broadcast", [&](torch::Tensor& host) { broadcast_host(host, root); });
}

void MpiCommunicator::all_reduce_host(torch::Tensor& tensor, ReduceOp op) {
  check_cpu_contiguous(tensor, "all_reduce");
  if (tensor.scalar_type() == torch::kBFloat16 || tensor.scalar_type() == torch::kFloat16) {
    auto widened = tensor.to(torch::kFloat32);
    all_reduce_host(widened, op);
    tensor.copy_(widened);
    return;
  }
  UOE_ASSERT(tensor.numel() <= INT_MAX, "all_reduce of ", tensor.numel(), " elements");
  const CollectiveScope watched("all_reduce", *this);
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                          mpi_datatype(tensor.scalar_type()), mpi_op(op), comm_));
}

void MpiCommunicator::all_to_all_single_host(torch::Tensor& output, const torch::Tensor& input,
                                             const std::vector<int64_t>& output_splits,
                                             const std::vector<int64_t>& input_splits) {
  check_exchange_tensors(output, input, c10::DeviceType::CPU, "mpi");
  const auto send = to_int_counts(resolve_splits(input_splits, input.size(0), size_, "input"));
  const auto recv = to_int_counts(resolve_splits(output_splits, output.size(0), size_, "output"));
  const RowType row(input.scalar_type(), row_numel(input));
  const auto send_displs = displacements(send);
  const auto recv_displs = displacements(recv);
  const CollectiveScope watched("all_to_all", *this);
  MPI_CHECK(MPI_Alltoallv(input.data_ptr(), send.data(), send_displs.data(), row.get(),
                          output.data_ptr(), recv.data(), recv_displs.data(), row.get(), comm_));
}

namespace {

// The rows one rank sends: MPI sends the peers' rows from `buffer` (picked by `rows`), the own
// rows are copied from `own_source` (picked by the own block of `rows`).
struct SendRows {
  torch::Tensor buffer;
  torch::Tensor rows;  // [sum(input_splits)] int64, or undefined: every row of `buffer` in order
  torch::Tensor own_source;
};

// Open MPI packs a send datatype of scattered single rows far slower than it unpacks one on the
// receive side (measured at 2 ranks, 16384 rows of 4 KiB: contiguous 36 ms, scattered receive
// 48 ms, scattered send 75-230 ms), so the rows for other ranks are gathered into a contiguous
// buffer first (one pass over them; the own rows are not staged: they are copied once, straight
// from `input`). Rows already in long runs (e.g. whole (source, expert) blocks) are sent in place.
SendRows stage_send_rows(const torch::Tensor& input, const torch::Tensor& send_rows,
                         const std::vector<int64_t>& splits, int own_rank) {
  if (!send_rows.defined() || send_rows.numel() == 0) return {input, send_rows, input};
  auto index = send_rows.contiguous();
  const int64_t* rows = index.data_ptr<int64_t>();
  int64_t runs = 1;
  for (int64_t i = 1; i < index.numel(); ++i) runs += rows[i] != rows[i - 1] + 1 ? 1 : 0;
  constexpr int64_t kMinRowsPerRun = 16;
  if (runs * kMinRowsPerRun <= index.numel()) return {input, index, input};
  const int64_t own_start = std::accumulate(splits.begin(), splits.begin() + own_rank, int64_t{0});
  const int64_t own_count = splits[own_rank];
  const int64_t after = index.numel() - own_start - own_count;
  auto own = index.narrow(0, own_start, own_count);
  auto peer_index =
      torch::cat({index.narrow(0, 0, own_start), index.narrow(0, own_start + own_count, after)});
  auto staged = input.index_select(0, peer_index);  // [rows for other ranks, ...] in send order
  // Peers' rows are now staged rows 0, 1, ... in order; the own block keeps its input rows.
  auto staged_rows = torch::cat({torch::arange(own_start, index.options()), own,
                                 torch::arange(own_start, own_start + after, index.options())});
  return {staged, staged_rows, input};
}

// The datatypes of one all_to_all_rows call, built from the splits and index lists.
class RowsExchangeTypes {
 public:
  RowsExchangeTypes(const torch::Tensor& output, const SendRows& input,
                    const std::vector<int64_t>& output_splits,
                    const std::vector<int64_t>& input_splits, const torch::Tensor& recv_rows,
                    int world, int own_rank)
      : row_(input.buffer.scalar_type(), row_numel(input.buffer)),
        row_bytes_(row_numel(input.buffer) * int64_t(input.buffer.element_size())),
        send_(row_, row_bytes_, input.buffer.size(0), input.own_source.size(0), input_splits,
              input.rows, own_rank, "send"),
        recv_(row_, row_bytes_, output.size(0), output.size(0),
              resolve_splits(output_splits, output.size(0), world, "output"), recv_rows, own_rank,
              "receive") {
    UOE_ASSERT(send_.own_rows().size() == recv_.own_rows().size(), "mpi backend: rank sends ",
               send_.own_rows().size(), " rows to itself but receives ", recv_.own_rows().size());
  }

  const PeerRowTypes& send() const { return send_; }
  const PeerRowTypes& recv() const { return recv_; }

  // The rows this rank sends to itself, straight from `own_source` to `output`.
  void copy_own_rows(torch::Tensor& output, const torch::Tensor& own_source) const {
    const auto* from = static_cast<const char*>(own_source.data_ptr());
    auto* to = static_cast<char*>(output.data_ptr());
    const auto& sent = send_.own_rows();
    const auto& received = recv_.own_rows();
    for (size_t i = 0; i < sent.size(); ++i) {
      std::memcpy(to + received[i] * row_bytes_, from + sent[i] * row_bytes_, row_bytes_);
    }
  }

 private:
  RowType row_;
  int64_t row_bytes_;
  PeerRowTypes send_;
  PeerRowTypes recv_;
};

// An MPI_Ialltoallw in flight, with the datatypes and tensors it uses kept alive until done.
class MpiPendingExchange final : public PendingExchange {
 public:
  MpiPendingExchange(torch::Tensor& output, const SendRows& input,
                     const std::vector<int64_t>& output_splits,
                     const std::vector<int64_t>& input_splits, const torch::Tensor& recv_rows,
                     const MpiCommunicator& comm)
      : types_(output, input, output_splits, input_splits, recv_rows, comm.size(), comm.rank()),
        output_(output),
        input_(input),
        comm_(comm) {
    MPI_CHECK(MPI_Ialltoallw(
        input.buffer.data_ptr(), types_.send().counts(), types_.send().displacements(),
        types_.send().types(), output.data_ptr(), types_.recv().counts(),
        types_.recv().displacements(), types_.recv().types(), comm.handle(), &request_));
    types_.copy_own_rows(output, input.own_source);  // while the other ranks' rows are under way
  }
  ~MpiPendingExchange() override {
    if (request_ == MPI_REQUEST_NULL) return;
    const CollectiveScope watched("all_to_all", comm_);
    MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }

  void wait() override {
    if (request_ == MPI_REQUEST_NULL) return;
    const CollectiveScope watched("all_to_all", comm_);
    MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
  }

 private:
  RowsExchangeTypes types_;
  torch::Tensor output_;
  SendRows input_;
  const MpiCommunicator& comm_;  // outlives the exchange
  MPI_Request request_ = MPI_REQUEST_NULL;
};

}  // namespace

void MpiCommunicator::all_to_all_rows(torch::Tensor& output, const torch::Tensor& input,
                                      const std::vector<int64_t>& output_splits,
                                      const std::vector<int64_t>& input_splits,
                                      const torch::Tensor& send_rows,
                                      const torch::Tensor& recv_rows) {
  // Non-blocking underneath: the own rows are copied while the peers move theirs.
  start_all_to_all_rows(output, input, output_splits, input_splits, send_rows, recv_rows)->wait();
}

std::unique_ptr<PendingExchange> MpiCommunicator::start_all_to_all_rows_host(
    torch::Tensor& output, const torch::Tensor& input, const std::vector<int64_t>& output_splits,
    const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
    const torch::Tensor& recv_rows) {
  check_exchange_tensors(output, input, c10::DeviceType::CPU, "mpi");
  const auto splits = resolve_send_splits(input_splits, input, send_rows, size_);
  return std::make_unique<MpiPendingExchange>(output,
                                              stage_send_rows(input, send_rows, splits, rank_),
                                              output_splits, splits, recv_rows, *this);
}

void MpiCommunicator::all_gather_host(torch::Tensor& output, const torch::Tensor& input) {
  check_cpu_contiguous(input, "all_gather");
  check_cpu_contiguous(output, "all_gather");
  UOE_ASSERT(output.numel() == input.numel() * size_, "all_gather: output has ", output.numel(),
             " elements, expected ", input.numel() * size_);
  UOE_ASSERT(input.numel() <= INT_MAX, "all_gather of ", input.numel(), " elements");
  const MPI_Datatype type = mpi_datatype(input.scalar_type());
  const CollectiveScope watched("all_gather", *this);
  MPI_CHECK(MPI_Allgather(input.data_ptr(), static_cast<int>(input.numel()), type,
                          output.data_ptr(), static_cast<int>(input.numel()), type, comm_));
}

void MpiCommunicator::broadcast_host(torch::Tensor& tensor, int root) {
  check_cpu_contiguous(tensor, "broadcast");
  UOE_ASSERT(tensor.numel() <= INT_MAX, "broadcast of ", tensor.numel(), " elements");
  const CollectiveScope watched("broadcast", *this);
  MPI_CHECK(MPI_Bcast(tensor.data_ptr(), static_cast<int>(tensor.numel()),
                      mpi_datatype(tensor.scalar_type()), root, comm_));
}

void MpiCommunicator::barrier() {
  const CollectiveScope watched("barrier", *this);
  MPI_CHECK(MPI_Barrier(comm_));
}

std::shared_ptr<MpiCommunicator> MpiCommunicator::split_mpi(int color, int key) const {
  MPI_Comm sub;
  const CollectiveScope watched("split", *this);
  MPI_CHECK(MPI_Comm_split(comm_, color, key, &sub));
  auto child = std::make_shared<MpiCommunicator>(sub, true);
  child->stage_cpu_tensors_ = stage_cpu_tensors_;
  return child;
}

std::shared_ptr<Communicator> MpiCommunicator::split(int color, int key) const {
  return split_mpi(color, key);
}

NodeSharedMemory* MpiCommunicator::node_shared_memory() {
  if (!node_memory_probed_) {
    node_memory_ = NodeSharedMemory::create_if_single_node(*this);
    node_memory_probed_ = true;
  }
  return node_memory_.get();
}

NodeSharedMemory* node_shared_memory(Communicator& comm) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&comm);
  return mpi ? mpi->node_shared_memory() : nullptr;
}

}  // namespace uoe
