#pragma once
// Plain ATen implementations of the fused ops: the CPU path and the oracle for the kernels.
// Autograd (including double backward) comes from ATen.
#include <torch/types.h>

namespace deepzine::ops::reference {

torch::Tensor bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope, double gain,
                       bool pixel_norm, double eps);
torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps);
torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha);
torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha);

// Gradients written with differentiable ATen ops, used by the fused ops' backward when a graph is
// being built through it (create_graph), so higher derivatives stay exact.
// d/dv of bias_act with pixel norm, v = x*gain + bias (multiply by gain for d/dx).
torch::Tensor bias_act_pixnorm_grad(const torch::Tensor& gy, const torch::Tensor& x, const torch::Tensor& bias,
                                    double slope, double gain, double eps);
// d/dx of minibatch_stddev with `groups` groups; gy is [N, C + 1, H, W].
torch::Tensor minibatch_stddev_grad(const torch::Tensor& gy, const torch::Tensor& x, int64_t groups, double eps);

}  // namespace deepzine::ops::reference
