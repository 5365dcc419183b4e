#pragma once
// bf16 autocast around the forward passes of a training step (mixed_precision: True on a GPU).
// LibTorch renamed the autocast API in 2.4; this hides the difference. On CPU tensors it drives CPU
// autocast (bf16), which is how the tests exercise the same code path without a GPU.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <c10/core/DeviceType.h>

namespace deepzine::train {

class Bf16Autocast {
 public:
  Bf16Autocast(bool on, c10::DeviceType device) : on_(on), device_(device) {
    if (!on_) return;
    prev_enabled_ = enabled();
    prev_dtype_ = dtype();
    set(true, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(prev_enabled_, prev_dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  bool enabled() const { return at::autocast::is_autocast_enabled(device_); }
  at::ScalarType dtype() const { return at::autocast::get_autocast_dtype(device_); }
  void set(bool on, at::ScalarType t) const {
    at::autocast::set_autocast_enabled(device_, on);
    at::autocast::set_autocast_dtype(device_, t);
  }
#else
  bool cuda() const { return device_ == c10::DeviceType::CUDA; }
  bool enabled() const { return cuda() ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
  at::ScalarType dtype() const {
    return cuda() ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  }
  void set(bool on, at::ScalarType t) const {
    if (cuda()) {
      at::autocast::set_enabled(on);
      at::autocast::set_autocast_gpu_dtype(t);
    } else {
      at::autocast::set_cpu_enabled(on);
      at::autocast::set_autocast_cpu_dtype(t);
    }
  }
#endif
  bool on_;
  c10::DeviceType device_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

}  // namespace deepzine::train
