// Host glue of minibatch_stddev: an autograd function around the kernels (CUDA on GPU tensors, the
// same element functions in a host loop on CPU tensors). Its backward runs the fused gradient kernel;
// when a graph is being built through it (the gradient penalty's create_graph), it uses the ATen
// formula instead so the second derivative is exact. The op sits at 4x4 only, so that path is cheap.
#include <torch/torch.h>

#include "common/host_glue.h"
#include "deepzine/ops/fused.h"
#include "deepzine/ops/reference.h"
#include "minibatch_stddev/minibatch_stddev_params.h"

namespace deepzine::ops {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

MbstdParams params_for(const Tensor& x, int64_t groups, double eps) {
  MbstdParams p;
  p.groups = groups;
  p.members = x.size(0) / groups;
  p.channels = x.size(1);
  p.inner = x.size(2) * x.size(3);
  p.eps = eps;
  return p;
}

torch::ScalarType acc_type(const Tensor& x) { return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat; }

Tensor run_forward(const MbstdParams& p, const Tensor& x) {
  Tensor sd = torch::empty({p.members, p.features()}, x.options().dtype(acc_type(x)));
  Tensor out = torch::empty({x.size(0), p.channels + 1, x.size(2), x.size(3)}, x.options());
  if (x.is_cuda()) {
    const DType t = glue::dtype_of(x, "minibatch_stddev");
    void* stream = glue::cuda_stream_for(x);
    mbstd_sd_cuda(p, t, x.data_ptr(), sd.data_ptr(), stream);
    Tensor s = sd.mean(1);
    mbstd_out_cuda(p, t, x.data_ptr(), s.data_ptr(), out.data_ptr(), stream);
    return out;
  }
  glue::host_dispatch(x, "minibatch_stddev", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_ptr<T>();
    T* sdp = sd.data_ptr<T>();
    glue::host_for(p.members * p.features(), [&](int64_t j) { mbstd_sd_elem<T>(p, j, xp, sdp); });
    Tensor s = sd.mean(1);
    const T* sp = s.data_ptr<T>();
    T* op = out.data_ptr<T>();
    glue::host_for(out.numel(), [&](int64_t i) { mbstd_out_elem<T>(p, i, xp, sp, op); });
  });
  return out;
}

Tensor run_grad(const MbstdParams& p, const Tensor& gy, const Tensor& x) {
  Tensor gs = gy.select(1, p.channels).reshape({p.groups, p.members, p.inner}).to(acc_type(x)).sum(std::vector<int64_t>{0, 2});
  Tensor gx = torch::empty_like(x);
  if (x.is_cuda()) {
    mbstd_grad_cuda(p, glue::dtype_of(x, "minibatch_stddev"), gy.data_ptr(), x.data_ptr(), gs.data_ptr(),
                    gx.data_ptr(), glue::cuda_stream_for(x));
    return gx;
  }
  glue::host_dispatch(x, "minibatch_stddev", [&](auto tag) {
    using T = decltype(tag);
    const T *gp = gy.data_ptr<T>(), *xp = x.data_ptr<T>(), *sp = gs.data_ptr<T>();
    T* op = gx.data_ptr<T>();
    glue::host_for(p.numel(), [&](int64_t i) { mbstd_grad_elem<T>(p, i, gp, xp, sp, op); });
  });
  return gx;
}

struct MinibatchStddev : torch::autograd::Function<MinibatchStddev> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x_in, int64_t groups, double eps) {
    Tensor x = x_in.contiguous();
    ctx->save_for_backward({x});
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["eps"] = eps;
    return run_forward(params_for(x, groups, eps), x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    Tensor x = ctx->get_saved_variables()[0];
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const double eps = ctx->saved_data["eps"].toDouble();
    Tensor gx = torch::GradMode::is_enabled() ? reference::minibatch_stddev_grad(g[0], x, groups, eps)
                                              : run_grad(params_for(x, groups, eps), g[0].contiguous(), x);
    return {gx, Tensor(), Tensor()};
  }
};

}  // namespace

torch::Tensor fused::minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps) {
  TORCH_CHECK(x.dim() == 4, "minibatch_stddev: expected [N, C, H, W], got ", x.sizes());
  const int64_t groups = std::min<int64_t>(group_size, x.size(0));
  TORCH_CHECK(groups > 0 && x.size(0) % groups == 0, "minibatch_stddev: batch ", x.size(0),
              " is not divisible by group size ", groups);
  c10::OptionalDeviceGuard guard;
  if (x.is_cuda()) guard.reset_device(x.device());
  return MinibatchStddev::apply(x, groups, eps);
}

}  // namespace deepzine::ops
