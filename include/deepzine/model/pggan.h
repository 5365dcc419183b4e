#pragma once
// The Progressive Growing GAN of Karras et al. 2018 (the paper's architecture, not the simplified one
// of the original DeepZine): both networks hold every block up to max_resolution, and forward() runs
// the blocks of the current resolution, fading the newest one in with alpha.
//
// G: z (pixel-normalised) -> dense to 4x4 -> 3x3 conv; per doubling: nearest 2x upsample, two 3x3
//    convs; toRGB 1x1 (linear). Leaky ReLU 0.2 and pixel norm after every conv.
// D: fromRGB 1x1; per halving: two 3x3 convs and 2x2 average pooling; at 4x4: minibatch stddev
//    (one extra map), 3x3 conv, dense, dense -> 1 score. Leaky ReLU 0.2.
// Parameter counts match model::generator_parameter_count / discriminator_parameter_count.
#include <map>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "deepzine/model/layers.h"
#include "deepzine/model/schedule.h"

namespace deepzine::model {

class GeneratorImpl : public torch::nn::Module {
 public:
  GeneratorImpl(ArchitectureSpec arch, int max_resolution);
  // z [B, latent] -> images [B, C, R, R]; alpha < 1 fades R in from the upsampled R/2 output.
  torch::Tensor forward(const torch::Tensor& z, int resolution, double alpha = 1.0);
  const ArchitectureSpec& arch() const { return arch_; }
  int max_resolution() const { return max_resolution_; }
  // Parameters that forward(., resolution, alpha < 1 when transition) uses.
  int64_t parameter_count(int resolution, bool transition) const;

 private:
  torch::Tensor block(const torch::Tensor& x, int resolution);
  ArchitectureSpec arch_;
  int max_resolution_;
  EqualizedLinear dense_{nullptr};
  EqualizedConv2d conv4_{nullptr};
  std::map<int, std::pair<EqualizedConv2d, EqualizedConv2d>> blocks_;
  std::map<int, EqualizedConv2d> to_rgb_;
};
TORCH_MODULE(Generator);

class DiscriminatorImpl : public torch::nn::Module {
 public:
  DiscriminatorImpl(ArchitectureSpec arch, int max_resolution, int64_t mbstd_group_size = 4);
  // images [B, C, R, R] -> scores [B, 1]; alpha < 1 fades R in from the pooled R/2 path.
  torch::Tensor forward(const torch::Tensor& images, int resolution, double alpha = 1.0);
  const ArchitectureSpec& arch() const { return arch_; }
  int64_t parameter_count(int resolution, bool transition) const;

 private:
  torch::Tensor block_convs(const torch::Tensor& x, int resolution);
  ArchitectureSpec arch_;
  int max_resolution_;
  int64_t group_size_;
  std::map<int, EqualizedConv2d> from_rgb_;
  std::map<int, std::pair<EqualizedConv2d, EqualizedConv2d>> blocks_;
  EqualizedConv2d final_conv_{nullptr};
  EqualizedLinear final_dense_{nullptr}, score_{nullptr};
};
TORCH_MODULE(Discriminator);

// Minibatch-stddev group size: the largest divisor of batch in 2..preferred (groups must divide the
// batch), else the whole batch (a prime batch; a group of 1 would give D a constant 0).
int64_t mbstd_group(int64_t batch, int64_t preferred);

}  // namespace deepzine::model
