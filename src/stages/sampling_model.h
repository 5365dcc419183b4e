#pragma once
// Finding and loading the model that inference and interpolation sample from.
#include <filesystem>

#include "deepzine/config/config.h"
#include "deepzine/sample/generate.h"

namespace deepzine::stages {

struct SamplingModel {
  sample::GeneratorFn generator;
  int resolution = 0, latent_size = 0, channels = 0;
  std::filesystem::path path;
  torch::Device device = torch::kCPU;
};

// inference_model_path, else inference_model_directory/<gan_output_size>/. Throws util::StageError
// listing the paths tried, or naming both values of a latent size / resolution mismatch.
SamplingModel load_sampling_model(const config::Config& cfg);

}  // namespace deepzine::stages
