#include "common/threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

namespace uoe {

int configure_threads(int local_ranks, int requested) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = requested > 0 ? requested : std::max(1, cores / std::max(1, local_ranks));
  at::set_num_threads(threads);
  // OpenBLAS (pthread build) ignores OpenMP settings; set its pool directly when it is loaded.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    fn(threads);
  }
  return threads;
}

}  // namespace uoe
