#pragma once
// Finding and loading the model that inference and interpolation sample from.
#include <filesystem>
#include <string>

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

// "PATH (64x64, 1 channel(s), latent 64)": what index.html says made the pictures.
inline std::string describe(const SamplingModel& m) {
  return m.path.string() + " (" + std::to_string(m.resolution) + "x" + std::to_string(m.resolution) + ", " +
         std::to_string(m.channels) + " channel(s), latent " + std::to_string(m.latent_size) + ")";
}

}  // namespace deepzine::stages
