#include "deepzine/ops/reference.h"

#include <torch/torch.h>

namespace deepzine::ops::reference {

torch::Tensor bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope, double gain,
                       bool pixel_norm, double eps) {
  torch::Tensor y = gain == 1.0 ? x : x * gain;
  if (bias.defined()) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = bias.size(0);
    y = y + bias.view(shape);
  }
  if (slope != 1.0) y = torch::leaky_relu(y, slope);
  if (pixel_norm) y = y * torch::rsqrt(y.pow(2).mean(1, /*keepdim=*/true) + eps);
  return y;
}

torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  int64_t g = std::min<int64_t>(group_size, n);
  TORCH_CHECK(n % g == 0, "minibatch_stddev: batch ", n, " is not divisible by group size ", g);
  // [G, M, C, H, W]: sample i belongs to group member i / M ... as in the reference PGGAN code.
  auto y = x.reshape({g, n / g, c, h, w});
  y = y - y.mean(0, true);
  y = (y.pow(2).mean(0) + eps).sqrt();           // [M, C, H, W]
  y = y.mean({1, 2, 3}, /*keepdim=*/true);        // [M, 1, 1, 1]
  y = y.repeat({g, 1, h, w});                     // [N, 1, H, W]
  return torch::cat({x, y}, 1);
}

torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha) {
  auto up = old_rgb.repeat_interleave(2, 2).repeat_interleave(2, 3);
  return up + alpha * (new_rgb - up);
}

torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha) {
  auto pooled = torch::avg_pool2d(hi, {2, 2});
  return old_lo + alpha * (pooled - old_lo);
}

}  // namespace deepzine::ops::reference
