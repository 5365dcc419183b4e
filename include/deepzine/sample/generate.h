#pragma once
// Runs latents through a generator in batches and hands out 8-bit pages:
// pixel = round(clip((x + 1) * 127.5, 0, 255)).
#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

namespace deepzine::sample {

// z [B, L] (on the model's device) -> images [B, C, R, R] in about [-1, 1].
using GeneratorFn = std::function<torch::Tensor(const torch::Tensor& z)>;
// index in the latent list, HWC uint8 pixels
using ImageSink = std::function<void(int64_t index, const uint8_t* hwc, int size, int channels)>;

void generate(const GeneratorFn& generator, const torch::Tensor& latents, int batch_size, torch::Device device,
              const ImageSink& sink, const std::string& progress_label);

// Standard normal latents from a seed (the same seed gives the same latents on every machine).
torch::Tensor random_latents(int64_t count, int latent_size, uint64_t seed);

}  // namespace deepzine::sample
