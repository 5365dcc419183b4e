// Reference minibatch_stddev from ATen ops: the CPU path and the kernels' oracle.
#include <torch/torch.h>

#include "deepzine/ops/reference.h"

namespace deepzine::ops::reference {

torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t g = std::min<int64_t>(group_size, n);
  TORCH_CHECK(g > 0 && n % g == 0, "minibatch_stddev: batch ", n, " is not divisible by group size ", g);
  // [G, M, C, H, W]: sample n = g*M + m, as in the reference PGGAN code.
  auto y = x.reshape({g, n / g, c, h, w});
  y = y - y.mean(0, true);
  y = (y.pow(2).mean(0) + eps).sqrt();     // [M, C, H, W]
  y = y.mean({1, 2, 3}, /*keepdim=*/true);  // [M, 1, 1, 1]
  y = y.repeat({g, 1, h, w});               // [N, 1, H, W]
  return torch::cat({x, y}, 1);
}

torch::Tensor minibatch_stddev_grad(const torch::Tensor& gy, const torch::Tensor& x, int64_t groups, double eps) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), m = n / groups;
  auto xg = x.reshape({groups, m, c, h, w});
  auto d = xg - xg.mean(0, true);
  auto sd = (d.pow(2).mean(0, true) + eps).sqrt();
  auto gs = gy.select(1, c).reshape({groups, m, h * w}).sum(std::vector<int64_t>{0, 2}).view({1, m, 1, 1, 1});
  auto g_sd = gs / static_cast<double>(c * h * w) * d / (static_cast<double>(groups) * sd);
  return gy.narrow(1, 0, c) + g_sd.reshape({n, c, h, w});
}

}  // namespace deepzine::ops::reference
