#pragma once
// NCCL backend for CUDA tensors. Built only when CUDA and NCCL are found (UOE_HAVE_NCCL); in other
// builds nccl_available() is false and create_nccl_communicator throws a clear InputError.
//
// The communicator is bootstrapped over MPI: rank 0 creates the unique id and broadcasts it.
// All operations are enqueued on the legacy default CUDA stream, the stream LibTorch uses unless
// a caller installs another one, so they are ordered with the surrounding kernels without extra
// synchronisation. bf16/f16 reduce natively.
#include <memory>

#include "parallel/communicator.h"
#include "parallel/mpi_communicator.h"

namespace uoe {

bool nccl_available();

// Collective over `bootstrap`: every rank of it must call this with its CUDA device selected.
CommunicatorPtr create_nccl_communicator(std::shared_ptr<MpiCommunicator> bootstrap);

}  // namespace uoe
