#pragma once
// Sliced Wasserstein distance between two image sets on Laplacian-pyramid 7x7 patches (Karras et al.
// 2018 §5 and appendix D): per pyramid level (finest first, down to 16x16), 128 random 7x7 patches per
// image, each set normalised per channel, distance estimated with random projections.
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deepzine::train {

struct SwdOptions {
  int patches_per_image = 128;
  int patch_size = 7;
  int directions = 512;  // random projections (repeats x directions of the paper)
  uint64_t seed = 1;
};

// a, b: [N, C, R, R] in [-1, 1]. Returns one distance per level (x1e3, as the paper reports), finest first.
std::vector<double> sliced_wasserstein(const torch::Tensor& a, const torch::Tensor& b, SwdOptions options = {});

}  // namespace deepzine::train
