#include "parallel/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "common/check.h"
#include "common/log.h"
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
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt32: return ncclInt32;
    case torch::kInt64: return ncclInt64;
    case torch::kUInt8:
    case torch::kBool: return ncclUint8;
    case torch::kInt8: return ncclInt8;
    default: UOE_ASSERT(false, "nccl backend: unsupported dtype ", type);
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}

void check_cuda_contiguous(const torch::Tensor& t, const char* what) {
  UOE_ASSERT(t.device().is_cuda(), "nccl backend: ", what, " needs a CUDA tensor, got ",
             t.device());
  UOE_ASSERT(t.is_contiguous(), "nccl backend: ", what, " needs a contiguous tensor");
}

// The legacy default stream: ordered with LibTorch's default-stream kernels.
constexpr cudaStream_t kStream = nullptr;

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<MpiCommunicator> bootstrap, int device, ncclComm_t comm)
      : bootstrap_(std::move(bootstrap)), device_(device), comm_(comm) {}
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string backend_name() const override { return "nccl"; }

  void all_reduce(torch::Tensor& tensor, ReduceOp op) override;
  void all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                         const std::vector<int64_t>& output_splits,
                         const std::vector<int64_t>& input_splits) override;
  void all_gather(torch::Tensor& output, const torch::Tensor& input) override;
  void broadcast(torch::Tensor& tensor, int root) override;
  void barrier() override;
  std::shared_ptr<Communicator> split(int color, int key) const override;

 private:
  std::shared_ptr<MpiCommunicator> bootstrap_;
  int device_;
  ncclComm_t comm_;
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
                           nccl_datatype(tensor.scalar_type()), nccl_op(op), comm_,
                           kStream));
}

void NcclCommunicator::all_to_all_single(torch::Tensor& output, const torch::Tensor& input,
                                         const std::vector<int64_t>& output_splits,
                                         const std::vector<int64_t>& input_splits) {
  check_exchange_tensors(output, input, c10::DeviceType::CUDA, "nccl");
  const int world = size();
  const auto send = resolve_splits(input_splits, input.size(0), world, "input");
  const auto recv = resolve_splits(output_splits, output.size(0), world, "output");
  const int64_t row = row_numel(input);
  const size_t elem = input.element_size();
  const ncclDataType_t type = nccl_datatype(input.scalar_type());
  auto* send_base = static_cast<char*>(input.data_ptr());
  auto* recv_base = static_cast<char*>(output.data_ptr());
  int64_t send_offset = 0;
  int64_t recv_offset = 0;
  NCCL_CHECK(ncclGroupStart());
  for (int peer = 0; peer < world; ++peer) {
    if (send[peer] > 0) {
      NCCL_CHECK(ncclSend(send_base + send_offset * row * elem, send[peer] * row, type, peer,
                          comm_, kStream));
    }
    if (recv[peer] > 0) {
      NCCL_CHECK(ncclRecv(recv_base + recv_offset * row * elem, recv[peer] * row, type, peer,
                          comm_, kStream));
    }
    send_offset += send[peer];
    recv_offset += recv[peer];
  }
  NCCL_CHECK(ncclGroupEnd());
}

void NcclCommunicator::all_gather(torch::Tensor& output, const torch::Tensor& input) {
  check_cuda_contiguous(input, "all_gather");
  check_cuda_contiguous(output, "all_gather");
  UOE_ASSERT(output.numel() == input.numel() * size(), "all_gather: output has ", output.numel(),
             " elements, expected ", input.numel() * size());
  NCCL_CHECK(ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(),
                           nccl_datatype(input.scalar_type()), comm_, kStream));
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_cuda_contiguous(tensor, "broadcast");
  NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                           nccl_datatype(tensor.scalar_type()), root, comm_, kStream));
}

void NcclCommunicator::barrier() {
  CUDA_CHECK(cudaStreamSynchronize(kStream));
  bootstrap_->barrier();
}

std::shared_ptr<Communicator> NcclCommunicator::split(int color, int key) const {
  return create_nccl_communicator(bootstrap_->split_mpi(color, key), device_);
}

}  // namespace uoe
