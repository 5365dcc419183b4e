#pragma once
// Plain ATen implementations of the fused ops: the CPU path and the oracle for the CUDA kernels.
// Autograd (including double backward) comes from ATen.
#include <torch/types.h>

namespace deepzine::ops::reference {

torch::Tensor bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope, double gain,
                       bool pixel_norm, double eps);
torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps);
torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha);
torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha);

}  // namespace deepzine::ops::reference
