#include "deepzine/model/pggan.h"

#include <torch/torch.h>

#include <stdexcept>

#include "deepzine/ops/ops.h"

namespace deepzine::model {
namespace {

EqualizedConv2d conv(int64_t in, int64_t out, int64_t k, bool pixel_norm, double gain = 1.4142135623730951,
                     double slope = 0.2) {
  EqualizedConv2dOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.kernel_size = k;
  o.gain = gain;
  o.slope = slope;
  o.pixel_norm = pixel_norm;
  return EqualizedConv2d(o);
}

void check_resolution(int resolution, int max_resolution, const char* who) {
  if (!is_power_of_two(resolution) || resolution < 4 || resolution > max_resolution) {
    throw std::invalid_argument(std::string(who) + ": resolution " + std::to_string(resolution) +
                                " is not a power of two between 4 and " + std::to_string(max_resolution));
  }
}

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

int64_t mbstd_group(int64_t batch, int64_t preferred) {
  for (int64_t g = std::min(batch, preferred); g > 1; --g) {
    if (batch % g == 0) return g;
  }
  // A batch with no divisor in 2..preferred (a prime such as 5, 7, 13): one group of the whole batch
  // rather than groups of one, whose standard deviation is always 0 and tells D nothing.
  return batch;
}

GeneratorImpl::GeneratorImpl(ArchitectureSpec arch, int max_resolution)
    : arch_(arch), max_resolution_(max_resolution) {
  check_resolution(max_resolution, 1 << 14, "Generator");
  const int64_t f4 = arch.filters(4);
  EqualizedLinearOptions d;
  d.in_features = arch.latent_size;
  d.out_features = 16 * f4;
  d.gain = 1.4142135623730951 / 4;  // as the paper's code: the 4x4 map is 16 outputs per channel
  d.bias_size = f4;
  dense_ = register_module("dense", EqualizedLinear(d));
  conv4_ = register_module("conv4", conv(f4, f4, 3, true));
  to_rgb_.emplace(4, register_module("to_rgb_4", conv(f4, arch.channels, 1, false, 1.0, 1.0)));
  for (int r = 8; r <= max_resolution; r *= 2) {
    const int64_t fin = arch.filters(r / 2), f = arch.filters(r);
    auto a = register_module("block_" + std::to_string(r) + "_conv1", conv(fin, f, 3, true));
    auto b = register_module("block_" + std::to_string(r) + "_conv2", conv(f, f, 3, true));
    blocks_.emplace(r, std::make_pair(a, b));
    to_rgb_.emplace(r, register_module("to_rgb_" + std::to_string(r), conv(f, arch.channels, 1, false, 1.0, 1.0)));
  }
}

torch::Tensor GeneratorImpl::block(const torch::Tensor& x, int r) {
  auto& b = blocks_.at(r);
  torch::Tensor up = torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
  return b.second->forward(b.first->forward(up));
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& z, int resolution, double alpha) {
  check_resolution(resolution, max_resolution_, "Generator");
  TORCH_CHECK(z.dim() == 2 && z.size(1) == arch_.latent_size, "Generator: latent must be [B, ",
              arch_.latent_size, "], got ", z.sizes());
  const int64_t f4 = arch_.filters(4);
  torch::Tensor x = dense_->forward(pixel_norm(z)).view({z.size(0), f4, 4, 4});
  x = ops::bias_act(x, dense_->bias, 0.2, 1.0, true);
  x = conv4_->forward(x);
  if (resolution == 4) return to_rgb_.at(4)->forward(x);
  for (int r = 8; r < resolution; r *= 2) x = block(x, r);
  if (alpha >= 1.0) return to_rgb_.at(resolution)->forward(block(x, resolution));
  torch::Tensor old_rgb = to_rgb_.at(resolution / 2)->forward(x);
  torch::Tensor new_rgb = to_rgb_.at(resolution)->forward(block(x, resolution));
  return ops::upsample_lerp(old_rgb, new_rgb, alpha);
}

int64_t GeneratorImpl::parameter_count(int resolution, bool transition) const {
  int64_t n = count(*dense_) + count(*conv4_) + count(*to_rgb_.at(resolution));
  for (int r = 8; r <= resolution; r *= 2) n += count(*blocks_.at(r).first) + count(*blocks_.at(r).second);
  if (transition && resolution > 4) n += count(*to_rgb_.at(resolution / 2));
  return n;
}

DiscriminatorImpl::DiscriminatorImpl(ArchitectureSpec arch, int max_resolution, int64_t mbstd_group_size)
    : arch_(arch), max_resolution_(max_resolution), group_size_(mbstd_group_size) {
  check_resolution(max_resolution, 1 << 14, "Discriminator");
  const int64_t f4 = arch.filters(4);
  for (int r = 4; r <= max_resolution; r *= 2) {
    from_rgb_.emplace(r, register_module("from_rgb_" + std::to_string(r), conv(arch.channels, arch.filters(r), 1, false)));
    if (r >= 8) {
      const int64_t f = arch.filters(r), fout = arch.filters(r / 2);
      auto a = register_module("block_" + std::to_string(r) + "_conv1", conv(f, f, 3, false));
      auto b = register_module("block_" + std::to_string(r) + "_conv2", conv(f, fout, 3, false));
      blocks_.emplace(r, std::make_pair(a, b));
    }
  }
  final_conv_ = register_module("final_conv", conv(f4 + 1, f4, 3, false));
  EqualizedLinearOptions d;
  d.in_features = 16 * f4;
  d.out_features = f4;
  final_dense_ = register_module("final_dense", EqualizedLinear(d));
  EqualizedLinearOptions s;
  s.in_features = f4;
  s.out_features = 1;
  s.gain = 1.0;
  s.slope = 1.0;
  score_ = register_module("score", EqualizedLinear(s));
}

torch::Tensor DiscriminatorImpl::block_convs(const torch::Tensor& x, int r) {
  auto& b = blocks_.at(r);
  return b.second->forward(b.first->forward(x));
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& images, int resolution, double alpha) {
  check_resolution(resolution, max_resolution_, "Discriminator");
  TORCH_CHECK(images.dim() == 4 && images.size(1) == arch_.channels && images.size(2) == resolution &&
                  images.size(3) == resolution,
              "Discriminator: images must be [B, ", arch_.channels, ", ", resolution, ", ", resolution, "], got ",
              images.sizes());
  torch::Tensor x = from_rgb_.at(resolution)->forward(images);
  if (resolution > 4) {
    x = block_convs(x, resolution);
    if (alpha < 1.0) {
      torch::Tensor old = from_rgb_.at(resolution / 2)->forward(torch::avg_pool2d(images, {2, 2}));
      x = ops::downsample_lerp(x, old, alpha);  // pool the new path, blend with the old one
    } else {
      x = torch::avg_pool2d(x, {2, 2});
    }
    for (int r = resolution / 2; r >= 8; r /= 2) x = torch::avg_pool2d(block_convs(x, r), {2, 2});
  }
  x = ops::minibatch_stddev(x, mbstd_group(x.size(0), group_size_));
  x = final_conv_->forward(x);
  x = final_dense_->forward(x.flatten(1));
  return score_->forward(x);
}

int64_t DiscriminatorImpl::parameter_count(int resolution, bool transition) const {
  int64_t n = count(*from_rgb_.at(resolution)) + count(*final_conv_) + count(*final_dense_) + count(*score_);
  for (int r = 8; r <= resolution; r *= 2) n += count(*blocks_.at(r).first) + count(*blocks_.at(r).second);
  if (transition && resolution > 4) n += count(*from_rgb_.at(resolution / 2));
  return n;
}

}  // namespace deepzine::model
