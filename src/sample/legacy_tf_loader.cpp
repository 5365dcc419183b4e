// The original DeepZine's TensorFlow generator weights into model::LegacyGenerator.
#include "deepzine/sample/legacy_tf_loader.h"

#include <torch/torch.h>

#include "deepzine/sample/tf_checkpoint.h"

namespace deepzine::sample {
namespace fs = std::filesystem;
using model::LegacyGenerator;
using model::LegacyGeneratorOptions;

namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

LoadedLegacyGenerator load_legacy_generator(const fs::path& path, const model::ArchitectureSpec& arch,
                                            torch::Device device) {
  TfCheckpoint ckpt(path);
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

}  // namespace deepzine::sample
