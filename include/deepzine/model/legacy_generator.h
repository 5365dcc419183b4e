#pragma once
// The original DeepZine's generator (model.py `generate`, no fade-in), for its TensorFlow checkpoints
// (`pretrained_model: True`). Unlike this project's PGGAN: no equalized learning rate and no latent
// normalisation. z [B, L] is a 1×1 map, zero-padded by 3 on each side and convolved 4×4 VALID to 4×4
// (gen_n_1_conv), then a 3×3 SAME conv (gen_n_2_conv); per doubling a nearest ×2 upsample and two
// 3×3 SAME convs (gen_n_conv_1_<size>, gen_n_conv_2_<size>). Every conv: bias, leaky ReLU 0.2, pixel
// norm (eps 1e-8). toRGB: 1×1 conv gen_y_rgb_conv_<size> with bias, no activation.
// Tensors are NCHW here (TensorFlow's HWIO weights are permuted to OIHW on load); output [B, C, R, R].
#include <filesystem>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "deepzine/model/schedule.h"

namespace deepzine::model {

struct LegacyGeneratorOptions {
  ArchitectureSpec arch;  // latent_size, channels, max_filter, filter_reduction_depth, legacy_filters
  int resolution = 4;
};

class LegacyGeneratorImpl : public torch::nn::Module {
 public:
  explicit LegacyGeneratorImpl(LegacyGeneratorOptions options);
  torch::Tensor forward(const torch::Tensor& z);
  const LegacyGeneratorOptions& options() const { return options_; }
  // TensorFlow scope names of the convolutions in order ("gen_n_1_conv", "gen_n_2_conv",
  // "gen_n_conv_1_8", ..., "gen_y_rgb_conv_<R>"); parameter i*2 is its w (OIHW), i*2+1 its biases.
  const std::vector<std::string>& tf_scopes() const { return scopes_; }
  std::vector<torch::Tensor> tf_parameters() const;

 private:
  LegacyGeneratorOptions options_;
  std::vector<std::string> scopes_;                // the last one is toRGB
  std::vector<torch::Tensor> weights_, biases_;  // per scope
};
TORCH_MODULE(LegacyGenerator);

}  // namespace deepzine::model
