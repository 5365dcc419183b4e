#pragma once
// Adam for D and G: torch::optim::Adam (one step counter per parameter, so a block that receives its
// first gradient after the network grew gets Adam's bias-correction warm-up like any fresh parameter),
// with the state saved and restored by parameter name, so checkpoints are plain name -> tensor dicts
// that do not depend on LibTorch's optimizer internals (which differ between 1.x and 2.x).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "deepzine/model/checkpoint.h"

namespace torch::optim {
class Adam;
}

namespace deepzine::train {

// Karras et al. 2018 (tkarras/progressive_growing_of_gans config.py: lrate 0.001 base, up to 0.003 in
// their 8-GPU preset; beta1 0, beta2 0.99, epsilon 1e-8), for layers with the equalized learning rate
// (model/layers.h); 0.003 learned fastest here (docs/BENCHMARKS.md, "Training recipe"). The original
// DeepZine's 1e-4 was for weights that carry the He scale; on equalized weights it is 10-25x smaller.
struct AdamOptions {
  double lr = 3e-3, beta1 = 0.0, beta2 = 0.99, eps = 1e-8;
};

class Adam {
 public:
  Adam(torch::nn::Module& module, AdamOptions options);
  ~Adam();
  Adam(const Adam&) = delete;
  Adam& operator=(const Adam&) = delete;
  // Updates every parameter that has a gradient, then clears the gradients (to undefined, so blocks
  // the current resolution does not use are skipped and keep their state untouched).
  void step();
  void zero_grad();
  // Forgets every moment and step count, as Karras's reset_opt_for_new_lod at each new stage.
  void reset();
  // Per parameter: NAME.exp_avg, NAME.exp_avg_sq, NAME.step (only parameters updated so far).
  model::TensorMap state() const;
  // Accepts this layout and the earlier one with a single "step" for all parameters; throws naming a
  // mismatched entry.
  void load_state(const model::TensorMap& state);
  // Updates applied to the parameter `name` so far (0 if never, or unknown).
  int64_t steps_of(const std::string& name) const;

 private:
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Adam> adam_;
};

}  // namespace deepzine::train
