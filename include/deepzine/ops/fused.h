#pragma once
// The fused implementations of the ops in ops.h, always: CUDA kernels on GPU tensors, the kernels'
// element functions in a host loop on CPU tensors (float32/float64). ops.h chooses between these
// and the ATen references; tests and benchmarks call both directly.
#include <torch/types.h>

namespace deepzine::ops::fused {

torch::Tensor bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope, double gain,
                       bool pixel_norm, double eps);
torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps);
torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha);
torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha);

}  // namespace deepzine::ops::fused
