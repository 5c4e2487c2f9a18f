#pragma once
// NCCL backend for CUDA tensors. Built only when CUDA and NCCL are found (UOE_HAVE_NCCL); in other
// builds nccl_available() is false and create_nccl_communicator throws a clear InputError.
//
// The communicator is bootstrapped over MPI: rank 0 creates the unique id and broadcasts it.
// All operations are enqueued on LibTorch's current CUDA stream of the communicator's device (the
// legacy default stream unless a caller installs another one), so they are ordered with the
// surrounding kernels without extra synchronisation; the overlapped exchange
// (start_all_to_all_rows) runs on a side stream ordered by events. bf16/f16 reduce natively.
#include <memory>

#include "parallel/communicator.h"
#include "parallel/mpi_communicator.h"

namespace uoe {

bool nccl_available();

// Collective over `bootstrap`. Makes `device` (a CUDA device index) this thread's current device
// (cudaSetDevice) before NCCL binds to it; the tensors passed to the communicator must live there.
CommunicatorPtr create_nccl_communicator(std::shared_ptr<MpiCommunicator> bootstrap, int device);

}  // namespace uoe
