#include "deepzine/model/legacy_generator.h"

#include <torch/torch.h>

namespace deepzine::model {
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// leaky ReLU 0.2, then normalise each pixel's feature vector (ops.py pixel_norm, over channels).
torch::Tensor lrelu_pixel_norm(const torch::Tensor& x) {
  auto y = F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(0.2));
  return y * torch::rsqrt(y.pow(2).mean(1, /*keepdim=*/true) + 1e-8);
}

}  // namespace

LegacyGeneratorImpl::LegacyGeneratorImpl(LegacyGeneratorOptions o) : options_(o) {
  const auto& a = options_.arch;
  TORCH_CHECK(is_power_of_two(o.resolution) && o.resolution >= 4, "legacy generator: bad resolution ",
              o.resolution);
  auto add = [&](const std::string& scope, int64_t in, int64_t out, int64_t k) {
    scopes_.push_back(scope);
    const std::string key = "c" + std::to_string(weights_.size());
    weights_.push_back(register_parameter(key + "_w", torch::zeros({out, in, k, k})));
    biases_.push_back(register_parameter(key + "_b", torch::zeros({out})));
  };
  add("gen_n_1_conv", a.latent_size, a.filters(4), 4);
  add("gen_n_2_conv", a.filters(4), a.filters(4), 3);
  for (int r = 8; r <= o.resolution; r *= 2) {
    add("gen_n_conv_1_" + std::to_string(r), a.filters(r / 2), a.filters(r), 3);
    add("gen_n_conv_2_" + std::to_string(r), a.filters(r), a.filters(r), 3);
  }
  add("gen_y_rgb_conv_" + std::to_string(o.resolution), a.filters(o.resolution), a.channels, 1);
}

std::vector<torch::Tensor> LegacyGeneratorImpl::tf_parameters() const {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < weights_.size(); ++i) {
    out.push_back(weights_[i]);
    out.push_back(biases_[i]);
  }
  return out;
}

torch::Tensor LegacyGeneratorImpl::forward(const torch::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == options_.arch.latent_size, "legacy generator: latents must be [B, ",
              options_.arch.latent_size, "], got ", shape_str(z.sizes()));
  // 1×1 map padded to 7×7 and convolved 4×4 VALID: the original's padding='Other'.
  auto x = F::pad(z.view({z.size(0), z.size(1), 1, 1}), F::PadFuncOptions({3, 3, 3, 3}));
  x = lrelu_pixel_norm(F::conv2d(x, weights_[0], F::Conv2dFuncOptions().bias(biases_[0])));
  const size_t last = weights_.size() - 1;
  for (size_t i = 1; i < last; ++i) {
    // Convs 3, 5, ... (gen_n_conv_1_<size>) start a new resolution: nearest ×2 upsample first.
    if (i >= 2 && i % 2 == 0) x = x.repeat_interleave(2, 2).repeat_interleave(2, 3);
    x = lrelu_pixel_norm(F::conv2d(x, weights_[i], F::Conv2dFuncOptions().bias(biases_[i]).padding(1)));
  }
  return F::conv2d(x, weights_[last], F::Conv2dFuncOptions().bias(biases_[last]));
}

}  // namespace deepzine::model
