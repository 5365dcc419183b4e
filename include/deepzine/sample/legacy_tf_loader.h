#pragma once
// The original DeepZine's TensorFlow checkpoints (model.ckpt.index + data shards) as a
// model::LegacyGenerator: the network lives in model/, the TF reader here in sample/.
#include <filesystem>

#include <torch/types.h>

#include "deepzine/model/legacy_generator.h"

namespace deepzine::sample {

// Loads the generator of an original DeepZine TensorFlow checkpoint (prefix, .index file or folder).
// The resolution is the largest gen_y_rgb_conv_<size> present; the latent size and filter counts
// are read from the weight shapes and checked against `arch` (its latent_size must match: the error
// names both values). Throws std::runtime_error naming the checkpoint on any problem.
struct LoadedLegacyGenerator {
  model::LegacyGenerator generator{nullptr};
  int resolution = 4;
};
LoadedLegacyGenerator load_legacy_generator(const std::filesystem::path& checkpoint, const model::ArchitectureSpec& arch,
                                            torch::Device device);

}  // namespace deepzine::sample
