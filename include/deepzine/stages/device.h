#pragma once
// Chooses the torch device from the config keys device and gpu_num, logging the choice. Without CUDA,
// a request for a GPU gives one clear log line and the CPU (config `device: cuda` is an error then).
#include <torch/types.h>

#include "deepzine/config/config.h"

namespace deepzine::stages {

torch::Device resolve_device(const config::Config& cfg, int local_rank = 0);

}  // namespace deepzine::stages
