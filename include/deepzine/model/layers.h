#pragma once
// Equalized-learning-rate layers (Karras et al. 2018 §4.1): weights are stored ~N(0, 1) and scaled at
// run time by He's constant gain / sqrt(fan_in), so Adam sees every layer at the same scale. The bias
// and activation (and G's pixel norm) are one fused op (ops::bias_act).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace deepzine::model {

struct EqualizedConv2dOptions {
  int64_t in_channels = 0, out_channels = 0, kernel_size = 3;
  double gain = 1.4142135623730951;  // sqrt(2) for leaky ReLU layers
  double slope = 0.2;                // leaky ReLU slope; 1 = linear
  bool pixel_norm = false;           // G: normalise the feature vector of each pixel after the act.
};

class EqualizedConv2dImpl : public torch::nn::Module {
 public:
  explicit EqualizedConv2dImpl(EqualizedConv2dOptions options);
  torch::Tensor forward(const torch::Tensor& x);
  double scale() const { return scale_; }
  torch::Tensor weight, bias;

 private:
  EqualizedConv2dOptions options_;
  double scale_;
};
TORCH_MODULE(EqualizedConv2d);

struct EqualizedLinearOptions {
  int64_t in_features = 0, out_features = 0;
  double gain = 1.4142135623730951;
  double slope = 0.2;
  int64_t bias_size = -1;  // -1: one bias per output; else a per-channel bias applied after reshaping
};

class EqualizedLinearImpl : public torch::nn::Module {
 public:
  explicit EqualizedLinearImpl(EqualizedLinearOptions options);
  // Without activation or bias when the bias is per-channel (the caller applies it after reshaping).
  torch::Tensor forward(const torch::Tensor& x);
  double scale() const { return scale_; }
  torch::Tensor weight, bias;

 private:
  EqualizedLinearOptions options_;
  double scale_;
};
TORCH_MODULE(EqualizedLinear);

// x / sqrt(mean over dim 1 of x^2 + eps): PGGAN's pixelwise feature normalisation (also used on z).
torch::Tensor pixel_norm(const torch::Tensor& x, double eps = 1e-8);

}  // namespace deepzine::model
