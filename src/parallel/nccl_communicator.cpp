#include "parallel/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>
#ifdef UOE_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

#include <exception>
#include <memory>
#include <type_traits>

#include "common/check.h"
#include "common/log.h"
#include "parallel/collective_watchdog.h"
#include "parallel/split_sizes.h"

namespace uoe {
namespace {

void nccl_check(ncclResult_t code, const char* call, const char* file, int line) {
  if (code == ncclSuccess) return;
  throw InternalError(c10::str("NCCL error ", static_cast<int>(code), " (",
                               ncclGetErrorString(code), ") in ", call, " at ", file, ":", line,
                               " on ", rank_tag()));
}

void cuda_check(cudaError_t code, const char* call, const char* file, int line) {
  if (code == cudaSuccess) return;
  throw InternalError(c10::str("CUDA error ", static_cast<int>(code), " (",
                               cudaGetErrorString(code), ") in ", call, " at ", file, ":", line,
                               " on ", rank_tag()));
}

#define NCCL_CHECK(call) nccl_check((call), #call, __FILE__, __LINE__)
#define CUDA_CHECK(call) cuda_check((call), #call, __FILE__, __LINE__)

ncclDataType_t nccl_datatype(c10::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kFloat16:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt32:
      return ncclInt32;
    case torch::kInt64:
      return ncclInt64;
    case torch::kUInt8:
    case torch::kBool:
      return ncclUint8;
    case torch::kInt8:
      return ncclInt8;
    default:
      UOE_ASSERT(false, "nccl backend: unsupported dtype ", type);
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

void check_cuda_contiguous(const torch::Tensor& t, const char* what) {
  UOE_ASSERT(t.device().is_cuda(), "nccl backend: ", what, " needs a CUDA tensor, got ",
             t.device());
  UOE_ASSERT(t.is_contiguous(), "nccl backend: ", what, " needs a contiguous tensor");
}

// LibTorch's current stream on `device` (its default: the legacy default stream), so that NCCL
// work is ordered with the kernels around it. A LibTorch without CUDA makes no CUDA tensors: the
// legacy default stream stands in.
cudaStream_t current_stream(int device) {
#ifdef UOE_TORCH_CUDA
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
#else
  (void)device;
  return nullptr;
#endif
}

// Enqueues on `stream` one exchange of whole rows: send[p] rows of `input` to rank p, recv[p] rows
// from rank p into `output`, as grouped point-to-point calls.
void enqueue_all_to_all(ncclComm_t comm, torch::Tensor& output, const torch::Tensor& input,
                        const std::vector<int64_t>& send, const std::vector<int64_t>& recv,
                        cudaStream_t stream) {
  const int64_t row = row_numel(input);
  const size_t elem = input.element_size();
  const ncclDataType_t type = nccl_datatype(input.scalar_type());
  auto* send_base = static_cast<char*>(input.data_ptr());
  auto* recv_base = static_cast<char*>(output.data_ptr());
  int64_t send_offset = 0;
  int64_t recv_offset = 0;
  NCCL_CHECK(ncclGroupStart());
  for (int peer = 0; peer < static_cast<int>(send.size()); ++peer) {
    if (send[peer] > 0) {
      NCCL_CHECK(ncclSend(send_base + send_offset * row * elem, send[peer] * row, type, peer, comm,
                          stream));
    }
    if (recv[peer] > 0) {
      NCCL_CHECK(ncclRecv(recv_base + recv_offset * row * elem, recv[peer] * row, type, peer, comm,
                          stream));
    }
    send_offset += send[peer];
    recv_offset += recv[peer];
  }
  NCCL_CHECK(ncclGroupEnd());
}

// A CUDA event, destroyed with its last owner (destroying one whose work is pending is allowed:
// it is released once that work completes).
using Event = std::shared_ptr<std::remove_pointer_t<cudaEvent_t>>;

Event record_event(cudaStream_t stream) {
  cudaEvent_t event = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  Event owned(event, cudaEventDestroy);
  CUDA_CHECK(cudaEventRecord(event, stream));
  return owned;
}

// Hands the collective of `comm` that `queued` (an event recorded after it, on GPU `device`)
// completes to the collective watchdog, whose thread queries the event. That thread first makes
// `device` its current one, so that no CUDA call there creates a context on GPU 0.
void watch_event(const char* operation, const Communicator& comm, int device, Event queued) {
  // A CUDA error other than "not ready" counts as completed: the main thread reports it.
  watch_queued_collective(operation, comm, [queued = std::move(queued), device] {
    cudaSetDevice(device);
    return cudaEventQuery(queued.get()) != cudaErrorNotReady;
  });
}

// watch_event for the collective just queued on `stream` (an event is recorded only while the
// watchdog runs).
void watch_on_stream(const char* operation, const Communicator& comm, int device,
                     cudaStream_t stream) {
  if (collective_watchdog_running()) watch_event(operation, comm, device, record_event(stream));
}

// An exchange enqueued on the communicator's side stream after the current stream's gather of
// the sent rows; wait() orders the current stream after it and scatters the received rows there.
// The tensors (allocated on the current stream) stay referenced until the current stream waits
// for the side stream's event (in wait() or the destructor, before the members are released), so
// the caching allocator cannot hand their memory to current-stream work the side stream still
// uses; no record_stream is needed.
class SideStreamExchange final : public PendingExchange {
 public:
  SideStreamExchange(const Communicator& owner, int device, ncclComm_t comm, cudaStream_t main,
                     cudaStream_t side, torch::Tensor& output, torch::Tensor sent,
                     const std::vector<int64_t>& send, const std::vector<int64_t>& recv,
                     torch::Tensor recv_rows)
      : main_(main),
        side_(side),
        output_(output),
        sent_(std::move(sent)),
        recv_rows_(std::move(recv_rows)) {
    received_ = recv_rows_.defined() ? torch::empty_like(output_) : output_;
    // The side stream starts after the current stream's gather of the sent rows.
    CUDA_CHECK(cudaStreamWaitEvent(side_, record_event(main_).get(), 0));
    enqueue_all_to_all(comm, received_, sent_, send, recv, side_);
    done_ = record_event(side_);
    if (collective_watchdog_running()) {
      watch_event("all_to_all (NCCL, side stream)", owner, device, done_);
    }
  }
  ~SideStreamExchange() override {
    // Never leave the current stream unordered with the exchange.
    if (done_) cudaStreamWaitEvent(main_, done_.get(), 0);
  }

  void wait() override {
    if (!done_) return;
    const cudaError_t ordered = cudaStreamWaitEvent(main_, done_.get(), 0);
    done_.reset();
    CUDA_CHECK(ordered);
    if (recv_rows_.defined()) output_.index_copy_(0, recv_rows_, received_);
  }

 private:
  cudaStream_t main_, side_;
  torch::Tensor output_, sent_, recv_rows_, received_;
  Event done_;  // the exchange's completion on the side stream; null once waited for
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<MpiCommunicator> bootstrap, int device, ncclComm_t comm)
      : bootstrap_(std::move(bootstrap)), device_(device), comm_(comm) {
    // Non-blocking: no implicit synchronisation with the legacy default stream.
    CUDA_CHECK(cudaStreamCreateWithFlags(&side_stream_, cudaStreamNonBlocking));
  }
  // Ending normally, the side stream's work is waited for and the communicator destroyed (which
  // waits for its peers). Ending while an exception unwinds (this rank failed on its own, or all
  // failed together), the communicator is aborted instead: a peer may be stuck in a collective
  // this rank will never join, and waiting for it would keep the rank from reaching the abort
  // that ends the job (app/main.cpp) until the collective watchdog's timeout.
  ~NcclCommunicator() override {
    if (std::uncaught_exceptions() > 0) {
      ncclCommAbort(comm_);
    } else {
      cudaStreamSynchronize(side_stream_);
      ncclCommDestroy(comm_);
    }
    cudaStreamDestroy(side_stream_);
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string backend_name() const override { return "nccl"; }

  void all_reduce(torch::Tensor& tensor, ReduceOp op) override;
  void all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                         const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits) override;
  // On a side stream, so that current-stream kernels enqueued before wait() overlap with it. No
  // other collective of this communicator may be started before wait().
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

 private:
  cudaStream_t stream() const { return current_stream(device_); }

  std::shared_ptr<MpiCommunicator> bootstrap_;
  int device_;
  ncclComm_t comm_;
  cudaStream_t side_stream_ = nullptr;
};

}  // namespace

bool nccl_available() { return true; }

CommunicatorPtr create_nccl_communicator(std::shared_ptr<MpiCommunicator> bootstrap, int device) {
  CUDA_CHECK(cudaSetDevice(device));
  ncclUniqueId id;
  if (bootstrap->rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  auto id_bytes = torch::from_blob(&id, {static_cast<int64_t>(sizeof(id))}, torch::kUInt8);
  bootstrap->broadcast(id_bytes, 0);
  ncclComm_t comm = nullptr;
  NCCL_CHECK(ncclCommInitRank(&comm, bootstrap->size(), id, bootstrap->rank()));
  return std::make_shared<NcclCommunicator>(std::move(bootstrap), device, comm);
}

void NcclCommunicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  check_cuda_contiguous(tensor, "all_reduce");
  NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                           nccl_datatype(tensor.scalar_type()), nccl_op(op), comm_, stream()));
  watch_on_stream("all_reduce (NCCL)", *this, device_, stream());
}

void NcclCommunicator::all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                                         const std::vector<int64_t>& output_splits,
                                         const std::vector<int64_t>& input_splits) {
  check_exchange_tensors(output, input, c10::DeviceType::CUDA, "nccl");
  const auto send = resolve_splits(input_splits, input.size(0), size(), "input");
  const auto recv = resolve_splits(output_splits, output.size(0), size(), "output");
  enqueue_all_to_all(comm_, output, input, send, recv, stream());
  watch_on_stream("all_to_all (NCCL)", *this, device_, stream());
}

std::unique_ptr<PendingExchange> NcclCommunicator::start_all_to_all_rows(
    torch::Tensor& output, const torch::Tensor& input, const std::vector<int64_t>& output_splits,
    const std::vector<int64_t>& input_splits, const torch::Tensor& send_rows,
    const torch::Tensor& recv_rows) {
  check_exchange_tensors(output, input, c10::DeviceType::CUDA, "nccl");
  const auto send = resolve_send_splits(input_splits, input, send_rows, size());
  const auto recv = resolve_splits(output_splits, output.size(0), size(), "output");
  torch::Tensor sent = send_rows.defined() ? input.index_select(0, send_rows) : input;
  return std::make_unique<SideStreamExchange>(*this, device_, comm_, stream(), side_stream_, output,
                                              std::move(sent), send, recv, recv_rows);
}

void NcclCommunicator::all_gather(torch::Tensor& output, const torch::Tensor& input) {
  check_cuda_contiguous(input, "all_gather");
  check_cuda_contiguous(output, "all_gather");
  UOE_ASSERT(output.numel() == input.numel() * size(), "all_gather: output has ", output.numel(),
             " elements, expected ", input.numel() * size());
  NCCL_CHECK(ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(),
                           nccl_datatype(input.scalar_type()), comm_, stream()));
  watch_on_stream("all_gather (NCCL)", *this, device_, stream());
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_cuda_contiguous(tensor, "broadcast");
  NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                           nccl_datatype(tensor.scalar_type()), root, comm_, stream()));
  watch_on_stream("broadcast (NCCL)", *this, device_, stream());
}

void NcclCommunicator::barrier() {
  CUDA_CHECK(cudaStreamSynchronize(stream()));
  bootstrap_->barrier();
}

std::shared_ptr<Communicator> NcclCommunicator::split(int color, int key) const {
  return create_nccl_communicator(bootstrap_->split_mpi(color, key), device_);
}

}  // namespace uoe
