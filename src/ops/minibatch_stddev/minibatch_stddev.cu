// CUDA kernels of minibatch_stddev (element functions in minibatch_stddev_params.h).
#include "common/cuda_launch.cuh"
#include "minibatch_stddev/minibatch_stddev_params.h"

namespace deepzine::ops {
namespace {

template <class T, class Acc> __global__ void sd_kernel(MbstdParams p, const T* x, Acc* sd) {
  DZ_GRID_STRIDE(j, p.members * p.features()) { mbstd_sd_elem<T, Acc>(p, j, x, sd); }
}
template <class T, class Acc> __global__ void out_kernel(MbstdParams p, const T* x, const Acc* s, T* out) {
  DZ_GRID_STRIDE(i, p.groups * p.members * (p.channels + 1) * p.inner) { mbstd_out_elem<T, Acc>(p, i, x, s, out); }
}
template <class T, class Acc>
__global__ void grad_kernel(MbstdParams p, const T* gy, const T* x, const Acc* gs, T* gx) {
  DZ_GRID_STRIDE(i, p.numel()) { mbstd_grad_elem<T, Acc>(p, i, gy, x, gs, gx); }
}

}  // namespace

void mbstd_sd_cuda(const MbstdParams& p, DType t, const void* x, void* sd, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    using Acc = typename AccOf<T>::type;
    sd_kernel<T, Acc><<<cuda::grid_for(p.members * p.features()), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(x), static_cast<Acc*>(sd));
  });
  cuda::check_launch("minibatch_stddev");
}

void mbstd_out_cuda(const MbstdParams& p, DType t, const void* x, const void* sm, void* out, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    using Acc = typename AccOf<T>::type;
    out_kernel<T, Acc><<<cuda::grid_for(p.groups * p.members * (p.channels + 1) * p.inner), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(x), static_cast<const Acc*>(sm), static_cast<T*>(out));
  });
  cuda::check_launch("minibatch_stddev");
}

void mbstd_grad_cuda(const MbstdParams& p, DType t, const void* gy, const void* x, const void* gs, void* gx,
                     void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    using Acc = typename AccOf<T>::type;
    grad_kernel<T, Acc><<<cuda::grid_for(p.numel()), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const Acc*>(gs), static_cast<T*>(gx));
  });
  cuda::check_launch("minibatch_stddev backward");
}

}  // namespace deepzine::ops
