#pragma once
// The `device:` key (auto | cpu | cuda): which device a rank runs on. One GPU per rank, chosen by
// the node-local rank among the GPUs the rank sees (launch/slurm/bind_rank.sh leaves one visible,
// plain mpirun leaves all). `device: cuda` without a CUDA build or a visible GPU is refused with
// one line naming the key; `auto` takes the GPU where there is one, else the CPU.
#include <torch/torch.h>

#include <string>

namespace uoe {

struct DeviceChoice {
  std::string device = "cpu";  // "cpu" or "cuda:<index>"
  std::string reason;          // for the start-up line, e.g. "auto: no GPU visible"

  torch::Device torch_device() const { return torch::Device(device); }
  bool is_cuda() const { return torch_device().is_cuda(); }
};

// What the machine offers a rank: whether LibTorch was built with CUDA, the GPUs it sees, and the
// rank's index among the ranks of its node.
struct DeviceEnvironment {
  bool build_has_cuda = false;
  int visible_gpus = 0;
  int local_rank = 0;
};

// This process's environment; local rank from OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID (what
// launch/slurm/bind_rank.sh reads too), else 0.
DeviceEnvironment device_environment();

// Throws InputError naming `device` when the choice cannot run here.
DeviceChoice choose_device(const std::string& key, const DeviceEnvironment& env);

// Makes a CUDA choice this process's current CUDA device (before anything allocates on it or
// creates a NCCL communicator); nothing for the CPU.
void activate_device(const DeviceChoice& choice);

// A host tensor (a batch, index lists, offsets) on `device` without making the host wait for the
// device: on a GPU copied from pinned memory, asynchronously on the current stream (the caching
// host allocator keeps the pinned block until the copy has run). The tensor itself on the CPU or
// when it is on `device` already.
torch::Tensor host_to_device(const torch::Tensor& host, const torch::Device& device);

}  // namespace uoe
