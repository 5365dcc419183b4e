#pragma once
// What the inference and interpolation stages sample from (defined in inference_stage.cpp).
#include <cstdint>
#include <filesystem>
#include <optional>

#include <torch/types.h>

#include "deepzine/config/config.h"

namespace deepzine::stages {

// Latents from a .npy file (checked against the model's latent size) or random from the seed.
torch::Tensor latents_for(const std::optional<std::filesystem::path>& file, int64_t count, int latent_size,
                          uint64_t seed);
// inference_output_directory, created, without the temporaries a killed earlier run left in it.
std::filesystem::path prepared_output_folder(const config::Config& cfg);
// random_seed, or a random one when it is None.
uint64_t seed_of(const config::Config& cfg);

}  // namespace deepzine::stages
