#pragma once
// The `device:` key (auto | cpu | cuda): which device a rank runs on. One GPU per rank, chosen by
// the node-local rank. The training path runs on the CPU in this version: `device: cuda` is
// refused (one line naming the key) and `auto` stays on the CPU, saying so, where a GPU is visible.
#include <string>

namespace uoe {

struct DeviceChoice {
  std::string device = "cpu";  // "cpu" or "cuda:<index>"
  std::string reason;          // for the start-up line, e.g. "auto: no GPU visible"
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

}  // namespace uoe
