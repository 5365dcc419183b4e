// Host glue of bias_act: autograd functions around the kernels of bias_act_params.h, run by CUDA
// (bias_act.cu) on GPU tensors and by a host loop (the same element functions) on CPU tensors.
//
// Double backward (needed by D under the gradient penalty): without pixel norm the gradient is
// gv = gy * leaky'(y), linear in gy with a mask fixed by y, so BiasActGrad is its own derivative and
// contributes nothing through y (as ATen's leaky_relu_backward). The pixel-norm form is used by G
// only; when a graph is being built through its backward, that backward switches to the ATen
// formula so higher derivatives stay exact.
#include <torch/torch.h>

#include "bias_act/bias_act_params.h"
#include "common/host_glue.h"
#include "common/layout.h"
#include "deepzine/ops/fused.h"
#include "deepzine/ops/reference.h"

namespace deepzine::ops {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

BiasActParams params_for(const Tensor& x, double slope, double gain, double eps) {
  BiasActParams p;
  p.numel = x.numel();
  p.channels = x.size(1);
  p.inner = glue::channels_last(x) || x.dim() == 2 ? 1 : x.numel() / (x.size(0) * x.size(1));
  p.slope = slope;
  p.gain = gain;
  p.eps = eps;
  return p;
}

using glue::ptr_or_null;
using glue::raw_or_null;

void run_forward(const BiasActParams& p, const Tensor& x, const Tensor& b, Tensor& y, bool pixel_norm) {
  if (x.is_cuda()) {
    bias_act_cuda(p, glue::dtype_of(x, "bias_act"), x.data_ptr(), raw_or_null(b), y.data_ptr(), pixel_norm,
                  glue::cuda_stream_for(x));
    return;
  }
  glue::host_dispatch(x, "bias_act", [&](auto tag) {
    using T = decltype(tag);
    const T *xp = x.data_ptr<T>(), *bp = ptr_or_null<T>(b);
    T* yp = y.data_ptr<T>();
    if (pixel_norm)
      glue::host_for(p.pixels(), [&](int64_t pix) { bias_act_pixnorm_pixel<T>(p, pix, xp, bp, yp); });
    else
      glue::host_for(p.numel, [&](int64_t i) { bias_act_elem<T>(p, i, xp, bp, yp); });
  });
}

Tensor run_grad(const BiasActParams& p, const Tensor& gy, const Tensor& y) {
  Tensor gv = torch::empty_like(y);
  if (y.is_cuda()) {
    bias_act_grad_cuda(p, glue::dtype_of(y, "bias_act"), gy.data_ptr(), y.data_ptr(), gv.data_ptr(),
                       glue::cuda_stream_for(y));
    return gv;
  }
  glue::host_dispatch(y, "bias_act", [&](auto tag) {
    using T = decltype(tag);
    const T *gp = gy.data_ptr<T>(), *yp = y.data_ptr<T>();
    T* op = gv.data_ptr<T>();
    glue::host_for(p.numel, [&](int64_t i) { bias_act_grad_elem<T>(p, i, gp, yp, op); });
  });
  return gv;
}

Tensor run_pixnorm_grad(const BiasActParams& p, const Tensor& gy, const Tensor& x, const Tensor& b) {
  Tensor gv = torch::empty_like(x);
  if (x.is_cuda()) {
    bias_act_pixnorm_grad_cuda(p, glue::dtype_of(x, "bias_act"), gy.data_ptr(), x.data_ptr(), raw_or_null(b),
                               gv.data_ptr(), glue::cuda_stream_for(x));
    return gv;
  }
  glue::host_dispatch(x, "bias_act", [&](auto tag) {
    using T = decltype(tag);
    const T *gp = gy.data_ptr<T>(), *xp = x.data_ptr<T>(), *bp = ptr_or_null<T>(b);
    T* op = gv.data_ptr<T>();
    glue::host_for(p.pixels(), [&](int64_t pix) { bias_act_pixnorm_grad_pixel<T>(p, pix, gp, xp, bp, op); });
  });
  return gv;
}

// gv = gy * leaky'(y); its own derivative w.r.t. gy, zero w.r.t. y.
struct BiasActGrad : torch::autograd::Function<BiasActGrad> {
  static Tensor forward(AutogradContext* ctx, const Tensor& gy, const Tensor& y, double slope) {
    ctx->save_for_backward({y});
    ctx->saved_data["slope"] = slope;
    return run_grad(params_for(y, slope, 1.0, 0.0), glue::like(gy, y), y);
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    auto y = ctx->get_saved_variables()[0];
    return {BiasActGrad::apply(g[0], y, ctx->saved_data["slope"].toDouble()), Tensor(), Tensor()};
  }
};

// Gradients of x and bias from the pre-activation gradient gv.
variable_list finish_backward(const Tensor& gv, double gain, bool has_bias, int extra) {
  variable_list out{gain == 1.0 ? gv : gv * gain, has_bias ? gv.sum(glue::non_channel_dims(gv)) : Tensor()};
  for (int i = 0; i < extra; ++i) out.emplace_back();
  return out;
}

struct BiasAct : torch::autograd::Function<BiasAct> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x_in, const c10::optional<Tensor>& b_opt, double slope,
                        double gain) {
    Tensor x = glue::dense(x_in), b = b_opt.value_or(Tensor());
    Tensor y = torch::empty_like(x);
    run_forward(params_for(x, slope, gain, 0.0), x, b, y, false);
    ctx->save_for_backward({y});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["gain"] = gain;
    ctx->saved_data["bias"] = b.defined();
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    auto y = ctx->get_saved_variables()[0];
    Tensor gv = BiasActGrad::apply(g[0], y, ctx->saved_data["slope"].toDouble());
    return finish_backward(gv, ctx->saved_data["gain"].toDouble(), ctx->saved_data["bias"].toBool(), 2);
  }
};

struct BiasActPixelNorm : torch::autograd::Function<BiasActPixelNorm> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x_in, const c10::optional<Tensor>& b_opt, double slope,
                        double gain, double eps) {
    Tensor x = glue::dense(x_in), b = b_opt.value_or(Tensor());
    Tensor y = torch::empty_like(x);
    run_forward(params_for(x, slope, gain, eps), x, b, y, true);
    ctx->save_for_backward({x, b});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["gain"] = gain;
    ctx->saved_data["eps"] = eps;
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    auto saved = ctx->get_saved_variables();
    const Tensor &x = saved[0], &b = saved[1];
    const double slope = ctx->saved_data["slope"].toDouble(), gain = ctx->saved_data["gain"].toDouble(),
                 eps = ctx->saved_data["eps"].toDouble();
    Tensor gv = torch::GradMode::is_enabled()
                    ? reference::bias_act_pixnorm_grad(g[0], x, b, slope, gain, eps)
                    : run_pixnorm_grad(params_for(x, slope, gain, eps), glue::like(g[0], x), x, b);
    return finish_backward(gv, gain, b.defined(), 3);
  }
};

}  // namespace

torch::Tensor fused::bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope, double gain,
                              bool pixel_norm, double eps) {
  TORCH_CHECK(x.dim() >= 2, "bias_act: expected [N, C, ...], got ", x.sizes());
  TORCH_CHECK(slope >= 0, "bias_act: slope must be >= 0, got ", slope);
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == x.size(1)),
              "bias_act: bias must be [", x.size(1), "], got ", bias.sizes());
  if (x.numel() == 0) return reference::bias_act(x, bias, slope, gain, pixel_norm, eps);
  c10::OptionalDeviceGuard guard;
  if (x.is_cuda()) guard.reset_device(x.device());
  // Under autocast the bias stays fp32 while x is bf16; the kernels take one element type.
  c10::optional<torch::Tensor> b;
  if (bias.defined()) b = bias.to(x.scalar_type()).contiguous();
  if (pixel_norm) return BiasActPixelNorm::apply(x, b, slope, gain, eps);
  return BiasAct::apply(x, b, slope, gain);
}

}  // namespace deepzine::ops
