#include "deepzine/model/legacy_generator.h"

#include <torch/torch.h>

#include "deepzine/sample/tf_checkpoint.h"

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

LoadedLegacyGenerator load_legacy_generator(const fs::path& path, const ArchitectureSpec& arch,
                                            torch::Device device) {
  sample::TfCheckpoint ckpt(path);
  const std::string where = "TensorFlow checkpoint " + ckpt.prefix().string();
  int resolution = 0;
  const std::string rgb = "generator/gen_y_rgb_conv_";
  for (const auto& [name, e] : ckpt.entries()) {
    if (name.rfind(rgb, 0) == 0 && name.size() > rgb.size() + 2 && name.compare(name.size() - 2, 2, "/w") == 0) {
      const std::string size = name.substr(rgb.size(), name.size() - rgb.size() - 2);
      if (size.find_first_not_of("0123456789") == std::string::npos) resolution = std::max(resolution, std::stoi(size));
    }
  }
  if (resolution == 0) throw std::runtime_error(where + " holds no generator (no " + rgb + "<size>/w)");
  const auto& first = ckpt.entry("generator/gen_n_1_conv/w");
  if (first.shape.size() != 4) throw std::runtime_error(where + ": generator/gen_n_1_conv/w is not 4-D");
  if (first.shape[2] != arch.latent_size) {
    throw std::runtime_error(where + " has latent size " + std::to_string(first.shape[2]) +
                             " but the config's latent_size is " + std::to_string(arch.latent_size) +
                             " (set latent_size: " + std::to_string(first.shape[2]) + ")");
  }
  LegacyGenerator g(LegacyGeneratorOptions{arch, resolution});
  torch::NoGradGuard no_grad;
  const auto params = g->tf_parameters();
  for (size_t i = 0; i < g->tf_scopes().size(); ++i) {
    const std::string scope = "generator/" + g->tf_scopes()[i];
    for (int which = 0; which < 2; ++which) {
      const std::string name = scope + (which == 0 ? "/w" : "/biases");
      const auto& e = ckpt.entry(name);
      torch::Tensor dst = params[2 * i + which];
      // TensorFlow conv weights are HWIO; ours OIHW.
      std::vector<int64_t> expected = dst.sizes().vec();
      if (which == 0) expected = {expected[2], expected[3], expected[1], expected[0]};
      if (e.shape != expected) {
        throw std::runtime_error(where + ": " + name + " has shape " + shape_str(e.shape) + " but the config (" +
                                 "max_filter " + std::to_string(arch.max_filter) + ", pretrained_model filters) expects " +
                                 shape_str(expected) + "; check max_filter and filter_num_reduction_transition_*");
      }
      auto values = ckpt.read_float(name);
      auto t = torch::from_blob(values.data(), e.shape, torch::kFloat32);
      dst.copy_(which == 0 ? t.permute({3, 2, 0, 1}) : t);
    }
  }
  g->to(device);
  g->eval();
  return {g, resolution};
}

}  // namespace deepzine::model
