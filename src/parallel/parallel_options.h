#pragma once
// `parallel:` options of the run config (config/run_config.h).
#include <string>

namespace uoe {

struct ParallelConfig {
  int ep_size = 1;                     // experts are split over ep_size ranks
  std::string backend = "mpi";         // mpi | nccl
  int threads_per_rank = 0;            // 0: cores on the node / ranks on the node
  bool overlap_dispatch = false;       // shared experts run while the token all-to-all is in flight
  bool shared_memory_dispatch = true;  // tokens move through node-shared memory when the EP
                                       // group's ranks share a node (CPU tensors)
};

}  // namespace uoe
