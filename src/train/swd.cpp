#include "deepzine/train/swd.h"

#include <torch/torch.h>

namespace deepzine::train {
namespace {

// 5x5 binomial (Gaussian) filter per channel, reflect padding.
torch::Tensor blur(const torch::Tensor& x) {
  auto k1 = torch::tensor({1.0f, 4.0f, 6.0f, 4.0f, 1.0f}) / 16.0f;
  auto k = torch::outer(k1, k1).to(x.device()).view({1, 1, 5, 5}).repeat({x.size(1), 1, 1, 1});
  const std::vector<int64_t> one = {1, 1}, zero = {0, 0};
  return torch::conv2d(torch::reflection_pad2d(x, {2, 2, 2, 2}), k, torch::Tensor(), one, zero, one, x.size(1));
}

std::vector<torch::Tensor> laplacian_pyramid(const torch::Tensor& x) {
  std::vector<torch::Tensor> levels;
  torch::Tensor cur = x;
  while (cur.size(2) > 16) {
    torch::Tensor down = torch::avg_pool2d(blur(cur), {2, 2});
    torch::Tensor up = torch::upsample_nearest2d(down, {cur.size(2), cur.size(3)});
    levels.push_back(cur - blur(up));
    cur = down;
  }
  levels.push_back(cur);  // the low-pass residual
  return levels;
}

// `count` random ps x ps patches per image, [N * count, C, ps * ps]. Only the chosen patches are
// copied (indexing the unfold view), not every patch position of every image.
torch::Tensor patches(const torch::Tensor& level, int count, int size, torch::Generator& gen) {
  using torch::indexing::Slice;
  const int64_t n = level.size(0), c = level.size(1), h = level.size(2), w = level.size(3);
  const int64_t ps = std::min<int64_t>(size, std::min(h, w));
  auto unfolded = level.unfold(2, ps, 1).unfold(3, ps, 1);  // [N, C, H', W', ps, ps], a view
  const int64_t hh = unfolded.size(2), ww = unfolded.size(3);
  auto ys = torch::randint(hh, {n, count}, gen, torch::kLong).flatten();
  auto xs = torch::randint(ww, {n, count}, gen, torch::kLong).flatten();
  auto images = torch::arange(n, torch::kLong).repeat_interleave(count);
  return unfolded.index({images, Slice(), ys, xs}).reshape({n * count, c, ps * ps});
}

torch::Tensor normalise(const torch::Tensor& desc) {
  // Per channel over all patches and pixels of the set.
  const std::vector<int64_t> dims = {0, 2};
  auto mean = desc.mean(dims, true);
  auto std = ((desc - mean).pow(2).mean(dims, true)).sqrt();
  return ((desc - mean) / (std + 1e-8)).flatten(1);
}

}  // namespace

std::vector<double> sliced_wasserstein(const torch::Tensor& a, const torch::Tensor& b, SwdOptions o) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(a.sizes() == b.sizes(), "SWD: both image sets must have the same shape");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto pa = laplacian_pyramid(a.to(torch::kCPU, torch::kFloat32));
  auto pb = laplacian_pyramid(b.to(torch::kCPU, torch::kFloat32));
  std::vector<double> out;
  for (size_t l = 0; l < pa.size(); ++l) {
    auto da = normalise(patches(pa[l], o.patches_per_image, o.patch_size, gen));
    auto db = normalise(patches(pb[l], o.patches_per_image, o.patch_size, gen));
    auto dirs = torch::randn({da.size(1), o.directions}, gen);
    dirs = dirs / dirs.norm(2, 0, true);
    auto proj_a = std::get<0>(torch::matmul(da, dirs).sort(0));
    auto proj_b = std::get<0>(torch::matmul(db, dirs).sort(0));
    out.push_back((proj_a - proj_b).abs().mean().item<double>() * 1e3);
  }
  return out;
}

}  // namespace deepzine::train
