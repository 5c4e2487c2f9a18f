#include "common/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <cstdlib>

#include "common/check.h"

namespace uoe {
namespace {

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

}  // namespace

DeviceEnvironment device_environment() {
  DeviceEnvironment env;
  // hasCUDART: built with the CUDA runtime; at::hasCUDA() is false on a CUDA build without a GPU.
  env.build_has_cuda = at::detail::getCUDAHooks().hasCUDART();
  env.visible_gpus = at::hasCUDA() ? int(torch::cuda::device_count()) : 0;
  env.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", 0));
  return env;
}

DeviceChoice choose_device(const std::string& key, const DeviceEnvironment& env) {
  if (key == "cpu") return {"cpu", "device: cpu"};
  const bool gpu = env.build_has_cuda && env.visible_gpus > 0;
  // bind_rank.sh leaves one GPU per rank visible; otherwise the local rank picks one of them.
  const std::string cuda = gpu ? c10::str("cuda:", env.local_rank % env.visible_gpus) : "";
  if (key == "auto") {
    if (!env.build_has_cuda) return {"cpu", "auto: LibTorch built without CUDA"};
    if (!gpu) return {"cpu", "auto: no GPU visible"};
    return {cuda,
            c10::str("auto: ", env.visible_gpus, " GPU(s) visible, local rank ", env.local_rank)};
  }
  UOE_CHECK(key == "cuda", "device must be auto, cpu or cuda, got '", key, "'");
  UOE_CHECK(env.build_has_cuda, "device=cuda: this uoe is built against a LibTorch without CUDA; ",
            "use device: cpu (or auto)");
  UOE_CHECK(gpu, "device=cuda: no GPU is visible to this rank (CUDA_VISIBLE_DEVICES='",
            std::getenv("CUDA_VISIBLE_DEVICES") ? std::getenv("CUDA_VISIBLE_DEVICES") : "",
            "'); use device: cpu (or auto)");
  return {cuda, c10::str("device: cuda, ", env.visible_gpus, " GPU(s) visible, local rank ",
                         env.local_rank)};
}

void activate_device(const DeviceChoice& choice) {
  const torch::Device device = choice.torch_device();
  if (!device.is_cuda()) return;
  // The device-generic guard interface: no CUDA header, so the CPU build compiles it unchanged.
  c10::impl::getDeviceGuardImpl(device.type())->setDevice(device);
}

torch::Tensor host_to_device(const torch::Tensor& host, const torch::Device& device) {
  if (host.device() == device) return host;
  UOE_ASSERT(host.device().is_cpu(), "host_to_device: a tensor on ", host.device(),
             ", not the host");
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace uoe
