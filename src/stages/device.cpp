#include "deepzine/stages/device.h"

#include <algorithm>
#include <cstdlib>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <spdlog/spdlog.h>

#include "deepzine/ops/ops.h"
#include "deepzine/util/cpu.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {

int configure_cpu_threads(const config::Config& cfg) {
  int threads = cfg.cpu_threads;
  const char* why = "cpu_threads";
  if (threads <= 0) {
    if (std::getenv("OMP_NUM_THREADS")) {
      spdlog::info("CPU: {} thread(s) (OMP_NUM_THREADS)", at::get_num_threads());
      return at::get_num_threads();
    }
    int local_ranks = 1;
    if (const char* l = std::getenv("LOCAL_WORLD_SIZE")) local_ranks = std::max(1, std::atoi(l));
    threads = std::max(1, util::usable_cores() / local_ranks);
    why = local_ranks > 1 ? "usable cores / local ranks" : "usable cores";
  }
  if (threads != at::get_num_threads()) at::set_num_threads(threads);
  spdlog::info("CPU: {} thread(s) ({})", threads, why);
  return threads;
}

torch::Device resolve_device(const config::Config& cfg, int local_rank) {
  if (cfg.device == "cpu") {
    spdlog::info("device: CPU (device: cpu in {})", cfg.source_file.string());
    return torch::kCPU;
  }
  const int64_t count = torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0;
  if (count == 0) {
    if (cfg.device == "cuda") {
      throw util::ConfigError(cfg.source_file.string() +
                              ": key 'device' is cuda, but this machine or this build has no CUDA "
                              "(use device: auto or cpu)");
    }
    if (!cfg.gpu_num.empty()) {
      spdlog::warn("gpu_num {} requested, but no CUDA device is available: running on the CPU",
                   cfg.gpu_num.front());
    } else {
      spdlog::info("device: CPU (no CUDA device available)");
    }
    return torch::kCPU;
  }
  int index = 0;
  if (!cfg.gpu_num.empty()) {
    index = cfg.gpu_num[static_cast<size_t>(local_rank) % cfg.gpu_num.size()];
  } else {
    index = local_rank % static_cast<int>(count);
  }
  if (index >= count) {
    throw util::ConfigError(cfg.source_file.string() + ": key 'gpu_num': device " + std::to_string(index) +
                            " does not exist (this machine has " + std::to_string(count) +
                            " CUDA device(s), numbered from 0)");
  }
  // Shapes are fixed within a stage, so cuDNN's autotuning pays for itself after a few steps.
  at::globalContext().setBenchmarkCuDNN(true);
  ops::set_cuda_kernels_enabled(cfg.cuda_kernels);
  spdlog::info("device: cuda:{} ({} CUDA device(s) visible), fused CUDA kernels {}", index, count,
               !cfg.cuda_kernels ? "off (cuda_kernels: False)"
               : ops::cuda_kernels_compiled() ? "on" : "not in this build (LibTorch without CUDA)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

}  // namespace deepzine::stages
