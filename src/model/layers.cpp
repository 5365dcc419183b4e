#include "deepzine/model/layers.h"

#include <torch/torch.h>

#include <cmath>

#include "deepzine/ops/ops.h"

namespace deepzine::model {

EqualizedConv2dImpl::EqualizedConv2dImpl(EqualizedConv2dOptions o) : options_(o) {
  weight = register_parameter("weight", torch::randn({o.out_channels, o.in_channels, o.kernel_size, o.kernel_size}));
  bias = register_parameter("bias", torch::zeros({o.out_channels}));
  scale_ = o.gain / std::sqrt(static_cast<double>(o.in_channels * o.kernel_size * o.kernel_size));
}

torch::Tensor EqualizedConv2dImpl::forward(const torch::Tensor& x) {
  // Scaling the (small) weight instead of the activations: same result, fewer FLOPs.
  torch::Tensor y = torch::conv2d(x, weight * scale_, {}, 1, options_.kernel_size / 2);
  return ops::bias_act(y, bias, options_.slope, 1.0, options_.pixel_norm);
}

EqualizedLinearImpl::EqualizedLinearImpl(EqualizedLinearOptions o) : options_(o) {
  weight = register_parameter("weight", torch::randn({o.out_features, o.in_features}));
  bias = register_parameter("bias", torch::zeros({o.bias_size < 0 ? o.out_features : o.bias_size}));
  scale_ = o.gain / std::sqrt(static_cast<double>(o.in_features));
}

torch::Tensor EqualizedLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::matmul(x, (weight * scale_).t());
  if (options_.bias_size >= 0) return y;
  return ops::bias_act(y, bias, options_.slope, 1.0, false);
}

torch::Tensor pixel_norm(const torch::Tensor& x, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(1, /*keepdim=*/true) + eps);
}

}  // namespace deepzine::model
