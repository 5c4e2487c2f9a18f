#pragma once
// CPU thread budget per rank: the node's cores split evenly among the ranks on that node, applied
// to both LibTorch's intra-op pool and OpenBLAS (which keeps its own pool).
namespace uoe {

// Sets intra-op and BLAS threads to max(1, cores / local_ranks) unless `requested` > 0.
// Returns the number of threads in use.
int configure_threads(int local_ranks, int requested = 0);

}  // namespace uoe
