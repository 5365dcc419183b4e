#include "deepzine/train/adam.h"

#include <torch/torch.h>

#include <stdexcept>
#include <type_traits>

namespace deepzine::train {
namespace {

// torch::optim keys its per-parameter state by the TensorImpl: as a string in LibTorch 1.x, as the
// pointer itself in 2.x.
template <typename Map>
auto state_key(const torch::Tensor& p) {
  using Key = typename std::decay_t<Map>::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    return c10::guts::to_string(p.unsafeGetTensorImpl());
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace

Adam::Adam(torch::nn::Module& module, AdamOptions options) {
  for (auto& p : module.named_parameters()) {
    names_.push_back(p.key());
    params_.push_back(p.value());
  }
  auto adam_options = torch::optim::AdamOptions(options.lr)
                          .betas(std::make_tuple(options.beta1, options.beta2))
                          .eps(options.eps);
  adam_ = std::make_unique<torch::optim::Adam>(params_, adam_options);
}

Adam::~Adam() = default;

void Adam::zero_grad() {
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

void Adam::step() {
  adam_->step();
  zero_grad();
}

void Adam::reset() { adam_->state().clear(); }

int64_t Adam::steps_of(const std::string& name) const {
  auto& states = adam_->state();
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] != name) continue;
    auto it = states.find(state_key<decltype(states)>(params_[i]));
    if (it == states.end()) return 0;
    return static_cast<const torch::optim::AdamParamState&>(*it->second).step();
  }
  return 0;
}

model::TensorMap Adam::state() const {
  model::TensorMap out;
  auto& states = adam_->state();
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = states.find(state_key<decltype(states)>(params_[i]));
    if (it == states.end()) continue;
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
    out[names_[i] + ".exp_avg"] = s.exp_avg().detach().to(torch::kCPU).clone();
    out[names_[i] + ".exp_avg_sq"] = s.exp_avg_sq().detach().to(torch::kCPU).clone();
    out[names_[i] + ".step"] = torch::tensor(s.step(), torch::kInt64);
  }
  return out;
}

void Adam::load_state(const model::TensorMap& state) {
  torch::NoGradGuard no_grad;
  auto& states = adam_->state();
  states.clear();
  // Checkpoints before per-parameter steps kept one counter for every parameter.
  auto shared_step = state.find("step");
  for (size_t i = 0; i < names_.size(); ++i) {
    const std::string& name = names_[i];
    auto avg = state.find(name + ".exp_avg"), avg_sq = state.find(name + ".exp_avg_sq");
    if (avg == state.end() && avg_sq == state.end()) continue;  // never updated
    if (avg == state.end() || avg_sq == state.end() || avg->second.sizes() != params_[i].sizes() ||
        avg_sq->second.sizes() != params_[i].sizes()) {
      throw std::runtime_error("optimizer state of '" + name + "' is incomplete or has the wrong shape");
    }
    auto step = state.find(name + ".step");
    int64_t steps = step != state.end() ? step->second.item<int64_t>()
                                        : (shared_step != state.end() ? shared_step->second.item<int64_t>() : 0);
    // The earlier layout kept zero moments for parameters never updated.
    if (steps <= 0 || (step == state.end() && !avg_sq->second.any().item<bool>())) continue;
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(steps);
    s->exp_avg(avg->second.to(params_[i].options()).clone());
    s->exp_avg_sq(avg_sq->second.to(params_[i].options()).clone());
    states[state_key<decltype(states)>(params_[i])] = std::move(s);
  }
}

}  // namespace deepzine::train
