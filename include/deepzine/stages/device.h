#pragma once
// Chooses the torch device from the config keys device and gpu_num, logging the choice. Without CUDA,
// a request for a GPU gives one clear log line and the CPU (config `device: cuda` is an error then).
#include <torch/types.h>

#include "deepzine/config/config.h"

namespace deepzine::stages {

torch::Device resolve_device(const config::Config& cfg, int local_rank = 0);

// Sets LibTorch's intra-op threads and returns their number: cpu_threads when > 0; else LibTorch's own
// choice when OMP_NUM_THREADS is set; else the usable cores (util::usable_cores) divided among the
// ranks on this machine (LOCAL_WORLD_SIZE). LibTorch alone may take far fewer (1 on a 2-vCPU VM).
int configure_cpu_threads(const config::Config& cfg);

}  // namespace deepzine::stages
