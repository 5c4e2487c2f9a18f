// The GPU memory queries of common/device_memory.h, compiled against a LibTorch built with CUDA
// (device_memory_no_cuda.cpp otherwise).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdio>
#include <vector>

#include "common/check.h"
#include "common/device_memory.h"

namespace uoe {
namespace {

// "cuda:<index>" -> the index; anything else is a caller's error.
c10::DeviceIndex cuda_index(const std::string& device) {
  const c10::Device parsed(device);
  UOE_ASSERT(parsed.is_cuda() && parsed.has_index(), "expected cuda:<index>, got '", device, "'");
  return parsed.index();
}

// Stamps are timing events recorded on the current stream, created once and reused every step.
class CudaEventClock final : public ProfilerClock {
 public:
  explicit CudaEventClock(c10::DeviceIndex index) : index_(index) {}
  ~CudaEventClock() override {
    for (cudaEvent_t event : events_) cudaEventDestroy(event);
  }
  CudaEventClock(const CudaEventClock&) = delete;
  CudaEventClock& operator=(const CudaEventClock&) = delete;

  void start_step() override { used_ = 0; }
  int stamp() override {
    const c10::cuda::CUDAGuard guard(index_);
    if (used_ == events_.size()) {
      cudaEvent_t event = nullptr;
      C10_CUDA_CHECK(cudaEventCreate(&event));  // timing enabled
      events_.push_back(event);
    }
    C10_CUDA_CHECK(cudaEventRecord(events_[used_], c10::cuda::getCurrentCUDAStream(index_)));
    return int(used_++);
  }
  double seconds(int from, int to) override {
    check_stamps(from, to, used_);
    C10_CUDA_CHECK(cudaEventSynchronize(events_[to]));
    C10_CUDA_CHECK(cudaEventSynchronize(events_[from]));
    float ms = 0.0f;
    C10_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[from], events_[to]));
    return double(ms) / 1000.0;
  }

 private:
  c10::DeviceIndex index_;
  std::vector<cudaEvent_t> events_;  // events_[0, used_) are this step's stamps
  size_t used_ = 0;
};

}  // namespace

GpuMemory gpu_memory(const std::string& device) {
  const c10::DeviceIndex index = cuda_index(device);
  const c10::cuda::CUDAGuard guard(index);
  size_t free = 0, total = 0;
  C10_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const cudaDeviceProp* properties = at::cuda::getDeviceProperties(index);
  std::string uuid;
  for (const char byte : properties->uuid.bytes) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", static_cast<unsigned char>(byte));
    uuid += hex;
  }
  return {int64_t(free), int64_t(properties->totalGlobalMem), properties->name, uuid};
}

std::string gpu_memory_unavailable_reason() {
  return c10::cuda::device_count() > 0 ? "" : "no GPU visible";
}

std::optional<DevicePeakMemory> device_peak_memory(const std::string& device) {
  if (device == "cpu") return std::nullopt;
  // A command that never allocated on the GPU (make-data, tokenize) leaves the allocator
  // uninitialised, and its statistics would throw: nothing was allocated.
  if (!c10::cuda::CUDACachingAllocator::get()->initialized()) return DevicePeakMemory{};
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
  constexpr auto kAll = size_t(c10::CachingAllocator::StatType::AGGREGATE);
  return DevicePeakMemory{stats.allocated_bytes[kAll].peak, stats.reserved_bytes[kAll].peak};
}

std::unique_ptr<ProfilerClock> device_profiler_clock(const std::string& device) {
  if (device == "cpu") return nullptr;
  return std::make_unique<CudaEventClock>(cuda_index(device));
}

}  // namespace uoe
