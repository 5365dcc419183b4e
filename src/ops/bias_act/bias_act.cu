// CUDA kernels of bias_act: thin grid-stride wrappers around the element functions of
// bias_act_params.h (the same functions the CPU twin runs in the tests).
#include "bias_act/bias_act_params.h"
#include "common/cuda_launch.cuh"

namespace deepzine::ops {
namespace {

template <class T> __global__ void bias_act_kernel(BiasActParams p, const T* x, const T* b, T* y) {
  DZ_GRID_STRIDE(i, p.numel) { bias_act_elem<T>(p, i, x, b, y); }
}
// One thread per pixel: neighbouring threads read neighbouring pixels of a channel plane (NCHW),
// so the loads over C stay coalesced.
template <class T> __global__ void bias_act_pixnorm_kernel(BiasActParams p, const T* x, const T* b, T* y) {
  DZ_GRID_STRIDE(pix, p.pixels()) { bias_act_pixnorm_pixel<T>(p, pix, x, b, y); }
}
template <class T> __global__ void bias_act_grad_kernel(BiasActParams p, const T* gy, const T* y, T* gv) {
  DZ_GRID_STRIDE(i, p.numel) { bias_act_grad_elem<T>(p, i, gy, y, gv); }
}
template <class T>
__global__ void bias_act_pixnorm_grad_kernel(BiasActParams p, const T* gy, const T* x, const T* b, T* gv) {
  DZ_GRID_STRIDE(pix, p.pixels()) { bias_act_pixnorm_grad_pixel<T>(p, pix, gy, x, b, gv); }
}

}  // namespace

void bias_act_cuda(const BiasActParams& p, DType t, const void* x, const void* b, void* y, bool pixel_norm,
                   void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    if (pixel_norm)
      bias_act_pixnorm_kernel<T><<<cuda::grid_for(p.pixels()), cuda::kThreads, 0, s>>>(
          p, static_cast<const T*>(x), static_cast<const T*>(b), static_cast<T*>(y));
    else
      bias_act_kernel<T><<<cuda::grid_for(p.numel), cuda::kThreads, 0, s>>>(
          p, static_cast<const T*>(x), static_cast<const T*>(b), static_cast<T*>(y));
  });
  cuda::check_launch("bias_act");
}

void bias_act_grad_cuda(const BiasActParams& p, DType t, const void* gy, const void* y, void* gv, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    bias_act_grad_kernel<T><<<cuda::grid_for(p.numel), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(gy), static_cast<const T*>(y), static_cast<T*>(gv));
  });
  cuda::check_launch("bias_act backward");
}

void bias_act_pixnorm_grad_cuda(const BiasActParams& p, DType t, const void* gy, const void* x, const void* b,
                                void* gv, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    bias_act_pixnorm_grad_kernel<T><<<cuda::grid_for(p.pixels()), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(gy), static_cast<const T*>(x), static_cast<const T*>(b), static_cast<T*>(gv));
  });
  cuda::check_launch("bias_act (pixel norm) backward");
}

}  // namespace deepzine::ops
