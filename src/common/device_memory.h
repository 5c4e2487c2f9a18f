#pragma once
// Memory of the accelerator a rank runs on, for the start-up memory plan and summary.json, and the
// clock that times its work for the step breakdown. The CUDA calls are compiled only against a
// LibTorch built with CUDA (device_memory_cuda.cpp); other builds link device_memory_no_cuda.cpp,
// whose functions say so.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/step_profiler.h"

namespace uoe {

// One GPU as this process sees it now.
struct GpuMemory {
  int64_t free_bytes = 0;   // cudaMemGetInfo: what allocations may still take
  int64_t total_bytes = 0;  // the device's memory (cudaDeviceProp::totalGlobalMem)
  std::string name;         // e.g. "NVIDIA H100 80GB HBM3"
  std::string uuid;         // 32 hex digits: the same GPU seen by several ranks has the same one
};

// `device` is "cuda:<index>". Throws InternalError when this build has no CUDA.
GpuMemory gpu_memory(const std::string& device);

// Why gpu_memory() cannot run in this process ("LibTorch built without CUDA", "no GPU
// visible"), or "" when it can (tests skip with this reason).
std::string gpu_memory_unavailable_reason();

// Peaks of the device's caching allocator since the process started: bytes handed to tensors
// (allocated) and bytes held from the device (reserved, allocated plus its cache).
struct DevicePeakMemory {
  int64_t allocated_bytes = 0;
  int64_t reserved_bytes = 0;
};

// For "cuda:<index>": that GPU's peaks; for "cpu": none (the host's peak is peak_rss_bytes() of
// common/memory_info.h).
std::optional<DevicePeakMemory> device_peak_memory(const std::string& device);

// For "cuda:<index>": a profiler clock whose stamps are events recorded on that GPU's current
// stream, read (after waiting for the last one) when the step ends: a phase times the kernels
// queued inside it, not their launch, and no stamp makes the host wait. Work on other streams (a
// side-stream exchange) counts where the current stream waits for it. For "cpu": null (the
// profiler's host clock).
std::unique_ptr<ProfilerClock> device_profiler_clock(const std::string& device);

}  // namespace uoe
