// Linked instead of device_memory_cuda.cpp when LibTorch has no CUDA: no GPU can be chosen
// (common/device.h refuses device=cuda), so only the CPU reaches device_peak_memory().
#include "common/check.h"
#include "common/device_memory.h"

namespace uoe {

GpuMemory gpu_memory(const std::string& device) {
  throw InternalError(
      str("gpu_memory(", device, "): this uoe is built against a LibTorch without CUDA"));
}

std::string gpu_memory_unavailable_reason() { return "LibTorch built without CUDA"; }

std::optional<DevicePeakMemory> device_peak_memory(const std::string& device) {
  UOE_ASSERT(device == "cpu", "device_peak_memory(", device,
             "): this uoe is built against a LibTorch without CUDA");
  return std::nullopt;
}

std::unique_ptr<ProfilerClock> device_profiler_clock(const std::string& device) {
  UOE_ASSERT(device == "cpu", "device_profiler_clock(", device,
             "): this uoe is built against a LibTorch without CUDA");
  return nullptr;
}

}  // namespace uoe
