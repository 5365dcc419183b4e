#include "deepzine/train/adam.h"

#include <torch/torch.h>

#include <cmath>

namespace deepzine::train {

Adam::Adam(torch::nn::Module& module, AdamOptions options) : o_(options) {
  for (auto& p : module.named_parameters()) {
    names_.push_back(p.key());
    params_.push_back(p.value());
    exp_avg_.push_back(torch::zeros_like(p.value()));
    exp_avg_sq_.push_back(torch::zeros_like(p.value()));
  }
}

void Adam::zero_grad() {
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

void Adam::step() {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(steps_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(steps_));
  const double step_size = o_.lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& g = params_[i].grad();
    if (!g.defined()) continue;  // blocks of resolutions not trained yet
    exp_avg_[i].mul_(o_.beta1).add_(g, 1.0 - o_.beta1);
    exp_avg_sq_[i].mul_(o_.beta2).addcmul_(g, g, 1.0 - o_.beta2);
    torch::Tensor denom = (exp_avg_sq_[i].sqrt() / bc2_sqrt).add_(o_.eps);
    params_[i].addcdiv_(exp_avg_[i], denom, -step_size);
  }
  zero_grad();
}

model::TensorMap Adam::state() const {
  model::TensorMap out;
  for (size_t i = 0; i < names_.size(); ++i) {
    out[names_[i] + ".exp_avg"] = exp_avg_[i].detach().to(torch::kCPU).clone();
    out[names_[i] + ".exp_avg_sq"] = exp_avg_sq_[i].detach().to(torch::kCPU).clone();
  }
  out["step"] = torch::tensor(steps_, torch::kInt64);
  return out;
}

void Adam::load_state(const model::TensorMap& state) {
  torch::NoGradGuard no_grad;
  auto fetch = [&](const std::string& key, torch::Tensor& target) {
    auto it = state.find(key);
    if (it == state.end() || it->second.sizes() != target.sizes()) {
      throw std::runtime_error("optimizer state '" + key + "' is missing or has the wrong shape");
    }
    target.copy_(it->second);
  };
  for (size_t i = 0; i < names_.size(); ++i) {
    fetch(names_[i] + ".exp_avg", exp_avg_[i]);
    fetch(names_[i] + ".exp_avg_sq", exp_avg_sq_[i]);
  }
  auto it = state.find("step");
  steps_ = it == state.end() ? 0 : it->second.item<int64_t>();
}

}  // namespace deepzine::train
