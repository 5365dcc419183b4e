// CUDA kernels of the fused fade-in resampling (element functions in resample_lerp_params.h).
#include "common/cuda_launch.cuh"
#include "resample_lerp/resample_lerp_params.h"

namespace deepzine::ops {
namespace {

template <class T> __global__ void upsample_add_kernel(ResampleParams p, const T* lo, const T* other, T* out) {
  DZ_GRID_STRIDE(i, p.hi_numel()) { upsample_add_elem<T>(p, i, lo, other, out); }
}
template <class T> __global__ void downsample_add_kernel(ResampleParams p, const T* hi, const T* other, T* out) {
  DZ_GRID_STRIDE(i, p.lo_numel()) { downsample_add_elem<T>(p, i, hi, other, out); }
}

}  // namespace

void upsample_add_cuda(const ResampleParams& p, DType t, const void* lo, const void* other, void* out, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    upsample_add_kernel<T><<<cuda::grid_for(p.hi_numel()), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(lo), static_cast<const T*>(other), static_cast<T*>(out));
  });
  cuda::check_launch("upsample_lerp");
}

void downsample_add_cuda(const ResampleParams& p, DType t, const void* hi, const void* other, void* out,
                         void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  DZ_DISPATCH(t, T, {
    downsample_add_kernel<T><<<cuda::grid_for(p.lo_numel()), cuda::kThreads, 0, s>>>(
        p, static_cast<const T*>(hi), static_cast<const T*>(other), static_cast<T*>(out));
  });
  cuda::check_launch("downsample_lerp");
}

}  // namespace deepzine::ops
