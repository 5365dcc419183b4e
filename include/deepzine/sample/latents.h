#pragma once
// Latent-space walks with the original DeepZine's definitions (model.py): `frames` latents from a
// towards b, endpoint excluded (t = i / frames); identical vectors (numpy.allclose) repeat b; tozero
// spends frames/2 going to the origin and the rest coming out of it.
#include <string>

#include <torch/types.h>

namespace deepzine::sample {

enum class Walk { kSlerp, kLinear, kToZero };
Walk parse_walk(const std::string& name);  // slerp | linear | tozero

// a, b: [L]. Returns [frames, L].
torch::Tensor interpolate(const torch::Tensor& a, const torch::Tensor& b, int frames, Walk walk);
// keyframes [V, L] -> [(V - 1) * frames, L]
torch::Tensor interpolation_path(const torch::Tensor& keyframes, int frames, Walk walk);

}  // namespace deepzine::sample
