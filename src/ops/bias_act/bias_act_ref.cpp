// Reference bias_act from ATen ops: the CPU path and the oracle the kernels are tested against.
#include <torch/torch.h>

#include "deepzine/ops/reference.h"

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

torch::Tensor bias_act_pixnorm_grad(const torch::Tensor& gy, const torch::Tensor& x, const torch::Tensor& bias,
                                    double slope, double gain, double eps) {
  torch::Tensor v = gain == 1.0 ? x : x * gain;
  if (bias.defined()) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = bias.size(0);
    v = v + bias.view(shape);
  }
  auto a = torch::leaky_relu(v, slope);
  auto r = torch::rsqrt(a.pow(2).mean(1, true) + eps);
  auto s = (gy * a).sum(1, true) / static_cast<double>(x.size(1));
  auto ga = r * gy - r.pow(3) * a * s;
  return ga * ((v > 0).to(v.scalar_type()) * (1.0 - slope) + slope);
}

}  // namespace deepzine::ops::reference
