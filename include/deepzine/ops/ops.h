#pragma once
// Fused ops of the PGGAN's hot path. Each has a plain ATen reference (src/ops/<op>/<op>_ref.cpp), the
// CPU path and the test oracle; on CUDA tensors with kernels enabled, fused CUDA kernels are used
// (src/ops/<op>/<op>.cu), registered as autograd functions with double-backward support for D.
#include <torch/types.h>

namespace deepzine::ops {

// y = act((x * gain) + bias[c]) with act = leaky ReLU(slope) (slope 1 = linear), then, if
// pixel_norm, y / sqrt(mean_c(y^2) + eps). x: [N, C, H, W] or [N, C]; bias: [C] or undefined.
// `gain` is applied to x only (the equalized-LR scale is applied to the weights by the conv layer;
// gain here is the optional extra scale, normally 1).
torch::Tensor bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope = 0.2,
                       double gain = 1.0, bool pixel_norm = false, double eps = 1e-8);

// Appends the minibatch standard deviation map: groups of `group_size` samples (group_size must
// divide N; clamped to N), stddev over the group per feature and pixel, averaged over C, H, W,
// broadcast to one extra channel. [N, C, H, W] -> [N, C + 1, H, W].
torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size = 4, double eps = 1e-8);

// G's fade-in: lerp(upsample_nearest2x(old_rgb), new_rgb, alpha) = old_up + alpha * (new - old_up).
// old_rgb: [N, C, H, W], new_rgb: [N, C, 2H, 2W].
torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha);

// D's fade-in: lerp(old_lo, avg_pool2x(hi), alpha) = old_lo + alpha * (avg_pool2x(hi) - old_lo).
// hi: [N, C, H, W] (output of the new block's convs), old_lo: [N, C, H/2, W/2] (the old path:
// fromRGB of the pooled image). H and W even.
torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha);

// Global switch (config key cuda_kernels); the reference path is always used on CPU.
void set_cuda_kernels_enabled(bool on);
// Also run the fused ops on CPU tensors (float32/float64), through the kernels' element functions in
// host loops. Off by default: on CPU the ATen reference is as fast. For tests and benchmarks.
void set_host_kernels_enabled(bool on);
// True when this build contains the CUDA kernels.
bool cuda_kernels_compiled();
// The dispatcher's choice for tensors on `device` of `dtype`: the fused kernels (true) or the ATen
// reference (false), under the two switches above.
bool dispatches_to_fused(c10::DeviceType device, c10::ScalarType dtype);

}  // namespace deepzine::ops
