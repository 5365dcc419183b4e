// Reference fade-in resampling from ATen ops: the CPU path and the kernels' oracle.
#include <torch/torch.h>

#include "deepzine/ops/reference.h"

namespace deepzine::ops::reference {

torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha) {
  auto up = old_rgb.repeat_interleave(2, 2).repeat_interleave(2, 3);
  return up + alpha * (new_rgb - up);
}

torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha) {
  auto pooled = torch::avg_pool2d(hi, {2, 2});
  return old_lo + alpha * (pooled - old_lo);
}

}  // namespace deepzine::ops::reference
