// Host glue of the fused fade-in: two autograd functions, UpsampleAdd and DownsampleAdd, each the
// other's adjoint (see resample_lerp_params.h), so backward, double backward and beyond all run the
// fused kernels. CUDA on GPU tensors; the same element functions in a host loop on CPU tensors.
#include <torch/torch.h>

#include "common/host_glue.h"
#include "deepzine/ops/fused.h"
#include "resample_lerp/resample_lerp_params.h"

namespace deepzine::ops {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// (n, c, h, w): the low-resolution shape.
ResampleParams params_for(int64_t n, int64_t c, int64_t h, int64_t w, double w_main, double w_other) {
  ResampleParams p;
  p.planes = n * c;
  p.h = h;
  p.w = w;
  p.w_main = w_main;
  p.w_other = w_other;
  return p;
}

using glue::ptr_or_null;
using glue::raw_or_null;

Tensor run_up(const ResampleParams& p, const Tensor& lo, const Tensor& other) {
  Tensor out = torch::empty({lo.size(0), lo.size(1), 2 * p.h, 2 * p.w}, lo.options());
  if (lo.is_cuda()) {
    upsample_add_cuda(p, glue::dtype_of(lo, "upsample_lerp"), lo.data_ptr(), raw_or_null(other), out.data_ptr(),
                      glue::cuda_stream_for(lo));
    return out;
  }
  glue::host_dispatch(lo, "upsample_lerp", [&](auto tag) {
    using T = decltype(tag);
    const T *lp = lo.data_ptr<T>(), *op = ptr_or_null<T>(other);
    T* dst = out.data_ptr<T>();
    glue::host_for(p.hi_numel(), [&](int64_t i) { upsample_add_elem<T>(p, i, lp, op, dst); });
  });
  return out;
}

Tensor run_down(const ResampleParams& p, const Tensor& hi, const Tensor& other) {
  Tensor out = torch::empty({hi.size(0), hi.size(1), p.h, p.w}, hi.options());
  if (hi.is_cuda()) {
    downsample_add_cuda(p, glue::dtype_of(hi, "downsample_lerp"), hi.data_ptr(), raw_or_null(other),
                        out.data_ptr(), glue::cuda_stream_for(hi));
    return out;
  }
  glue::host_dispatch(hi, "downsample_lerp", [&](auto tag) {
    using T = decltype(tag);
    const T *hp = hi.data_ptr<T>(), *op = ptr_or_null<T>(other);
    T* dst = out.data_ptr<T>();
    glue::host_for(p.lo_numel(), [&](int64_t i) { downsample_add_elem<T>(p, i, hp, op, dst); });
  });
  return out;
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

struct DownsampleAdd;

// out = w_main * up2(lo) + w_other * other.  Adjoint: (w_main * sum2x2(g), w_other * g).
struct UpsampleAdd : torch::autograd::Function<UpsampleAdd> {
  static Tensor forward(AutogradContext* ctx, const Tensor& lo, const c10::optional<Tensor>& other, double w_main, double w_other) {
    ctx->saved_data["w_main"] = w_main;
    ctx->saved_data["w_other"] = w_other;
    ctx->saved_data["other"] = other.has_value();
    return run_up(params_for(lo.size(0), lo.size(1), lo.size(2), lo.size(3), w_main, w_other), lo.contiguous(), contiguous_or_undefined(other.value_or(Tensor())));
  }
  static variable_list backward(AutogradContext* ctx, variable_list g);
};

// out = w_main * sum2x2(hi) + w_other * other.  Adjoint: (w_main * up2(g), w_other * g).
struct DownsampleAdd : torch::autograd::Function<DownsampleAdd> {
  static Tensor forward(AutogradContext* ctx, const Tensor& hi, const c10::optional<Tensor>& other, double w_main, double w_other) {
    ctx->saved_data["w_main"] = w_main;
    ctx->saved_data["w_other"] = w_other;
    ctx->saved_data["other"] = other.has_value();
    TORCH_CHECK(hi.size(2) % 2 == 0 && hi.size(3) % 2 == 0, "downsample_lerp: odd size ", hi.sizes());
    return run_down(params_for(hi.size(0), hi.size(1), hi.size(2) / 2, hi.size(3) / 2, w_main, w_other), hi.contiguous(), contiguous_or_undefined(other.value_or(Tensor())));
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const double w_main = ctx->saved_data["w_main"].toDouble(), w_other = ctx->saved_data["w_other"].toDouble();
    Tensor g_hi = UpsampleAdd::apply(g[0], c10::nullopt, w_main, 0.0);
    Tensor g_other = ctx->saved_data["other"].toBool() ? g[0] * w_other : Tensor();
    return {g_hi, g_other, Tensor(), Tensor()};
  }
};

variable_list UpsampleAdd::backward(AutogradContext* ctx, variable_list g) {
  const double w_main = ctx->saved_data["w_main"].toDouble(), w_other = ctx->saved_data["w_other"].toDouble();
  Tensor g_lo = DownsampleAdd::apply(g[0], c10::nullopt, w_main, 0.0);
  Tensor g_other = ctx->saved_data["other"].toBool() ? g[0] * w_other : Tensor();
  return {g_lo, g_other, Tensor(), Tensor()};
}

void check_pair(const Tensor& lo, const Tensor& hi, const char* op) {
  TORCH_CHECK(lo.dim() == 4 && hi.dim() == 4 && lo.size(0) == hi.size(0) && lo.size(1) == hi.size(1) &&
                  hi.size(2) == 2 * lo.size(2) && hi.size(3) == 2 * lo.size(3),
              op, ": expected [N, C, H, W] and [N, C, 2H, 2W], got ", lo.sizes(), " and ", hi.sizes());
  TORCH_CHECK(lo.scalar_type() == hi.scalar_type() && lo.device() == hi.device(), op,
              ": both inputs must share dtype and device");
}

}  // namespace

torch::Tensor fused::upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha) {
  check_pair(old_rgb, new_rgb, "upsample_lerp");
  c10::OptionalDeviceGuard guard;
  if (old_rgb.is_cuda()) guard.reset_device(old_rgb.device());
  return UpsampleAdd::apply(old_rgb, c10::optional<Tensor>(new_rgb), 1.0 - alpha, alpha);
}

torch::Tensor fused::downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha) {
  check_pair(old_lo, hi, "downsample_lerp");
  c10::OptionalDeviceGuard guard;
  if (hi.is_cuda()) guard.reset_device(hi.device());
  return DownsampleAdd::apply(hi, c10::optional<Tensor>(old_lo), alpha / 4.0, 1.0 - alpha);
}

}  // namespace deepzine::ops
