#pragma once
// Adam (Kingma & Ba) with its state kept by parameter name, so checkpoints are plain name -> tensor
// dicts that do not depend on LibTorch's optimizer internals (which differ between 1.x and 2.x).
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "deepzine/model/checkpoint.h"

namespace deepzine::train {

struct AdamOptions {
  double lr = 1e-4, beta1 = 0.0, beta2 = 0.99, eps = 1e-8;  // PGGAN's settings
};

class Adam {
 public:
  Adam(torch::nn::Module& module, AdamOptions options);
  // Updates every parameter that has a gradient, then clears the gradients.
  void step();
  void zero_grad();
  model::TensorMap state() const;
  void load_state(const model::TensorMap& state);  // throws naming a mismatched entry
  int64_t steps() const { return steps_; }

 private:
  AdamOptions o_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_, exp_avg_, exp_avg_sq_;
  int64_t steps_ = 0;
};

}  // namespace deepzine::train
