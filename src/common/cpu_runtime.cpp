#include "common/cpu_runtime.h"

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

namespace uoe {

int configure_cpu_runtime(int local_ranks, int requested) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = requested > 0 ? requested : std::max(1, cores / std::max(1, local_ranks));
  at::set_num_threads(threads);
  mallopt(M_MMAP_MAX, 0);                   // large blocks from the heap, not fresh mappings
  mallopt(M_TRIM_THRESHOLD, 1 << 30);       // keep freed memory for the next step (up to 1 GiB)
  // OpenBLAS (pthread build) ignores OpenMP settings; set its pool directly when it is loaded.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(threads);
  }
  return threads;
}

}  // namespace uoe
