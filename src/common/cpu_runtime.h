#pragma once
// CPU runtime settings for one rank, applied once at start-up:
// - threads: the node's cores split evenly among the ranks on that node, for both LibTorch's
//   intra-op pool and OpenBLAS (which keeps its own pool);
// - allocator: large tensors are allocated and freed every step; glibc serves blocks above its
//   mmap threshold with fresh mappings and unmaps them on free, so every step page-faults its
//   activations in again (measured: a 64 MiB index_select took 37 ms fresh vs 11 ms into reused
//   memory). Keeping large blocks on the heap, and not trimming it, removes that cost.
namespace uoe {

// Sets intra-op and BLAS threads to `requested` if > 0, else OMP_NUM_THREADS if set, else the
// cores this process is bound to, or max(1, node cores / local_ranks) when it is not bound; and
// configures the allocator as above. Returns the number of threads in use.
int configure_cpu_runtime(int local_ranks, int requested = 0);

}  // namespace uoe
