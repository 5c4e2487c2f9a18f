#include "common/cpu_runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

namespace uoe {
namespace {

// OMP_NUM_THREADS when the launcher set it (uoe_mpirun.sh, Slurm's bind_rank.sh); else the cores
// this process may run on: all of them when it is bound to a subset (the launcher already split
// the node), otherwise the node's cores divided by the ranks on the node.
int default_threads(int local_ranks) {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const int node_cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) < node_cores) {
    return std::max(1, CPU_COUNT(&allowed));
  }
  return std::max(1, node_cores / std::max(1, local_ranks));
}

}  // namespace

int configure_cpu_runtime(int local_ranks, int requested) {
  const int threads = requested > 0 ? requested : default_threads(local_ranks);
  at::set_num_threads(threads);
  mallopt(M_MMAP_MAX, 0);              // large blocks from the heap, not fresh mappings
  mallopt(M_TRIM_THRESHOLD, 1 << 30);  // keep freed memory for the next step (up to 1 GiB)
  // OpenBLAS (pthread build) ignores OpenMP settings; set its pool directly when it is loaded.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(threads);
  }
  return threads;
}

}  // namespace uoe
