#pragma once
// Shared by the .cu kernels and their host twins (<op>_cpu.cpp): each op's per-element math is
// written once, as DZ_HD functions in its params header, so the same code runs on the GPU and is
// exercised on the CPU by the tests in CI, where there is no GPU.
// No LibTorch and no CUDA runtime here: nvcc compiles the kernels without LibTorch headers, which is
// what lets DEEPZINE_CUDA_COMPILE_CHECK build them against Debian's CPU-only LibTorch.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define DZ_HD __host__ __device__ __forceinline__
#else
#define DZ_HD inline
#endif

namespace deepzine::ops {

// Element types the kernels are instantiated for (float16/bfloat16 on the GPU only).
enum class DType { f32, f64, f16, bf16 };

// Arithmetic happens in float (double for double inputs), as in ATen's opmath.
template <class T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

template <class T> struct Convert {
  template <class Acc> static DZ_HD Acc load(T v) { return static_cast<Acc>(v); }
  template <class Acc> static DZ_HD T store(Acc v) { return static_cast<T>(v); }
};
#if defined(__CUDACC__)
template <> struct Convert<__half> {
  template <class Acc> static DZ_HD Acc load(__half v) { return __half2float(v); }
  template <class Acc> static DZ_HD __half store(Acc v) { return __float2half(static_cast<float>(v)); }
};
template <> struct Convert<__nv_bfloat16> {
  template <class Acc> static DZ_HD Acc load(__nv_bfloat16 v) { return __bfloat162float(v); }
  template <class Acc> static DZ_HD __nv_bfloat16 store(Acc v) { return __float2bfloat16(static_cast<float>(v)); }
};
#endif

template <class Acc, class T> DZ_HD Acc load(const T* p, int64_t i) { return Convert<T>::template load<Acc>(p[i]); }
template <class T, class Acc> DZ_HD void store(T* p, int64_t i, Acc v) { p[i] = Convert<T>::template store<Acc>(v); }

template <class Acc> DZ_HD Acc dz_sqrt(Acc v) {
#if defined(__CUDA_ARCH__)
  return sqrt(v);
#else
  return std::sqrt(v);
#endif
}

// Leaky ReLU and its derivative; slope 1 is the identity. The derivative is taken from the sign of
// the pre-activation (or, equivalently for slope > 0, of the output), as ATen's leaky_relu does.
template <class Acc> DZ_HD Acc leaky(Acc v, Acc slope) { return v > Acc(0) ? v : v * slope; }
template <class Acc> DZ_HD Acc leaky_slope(Acc v, Acc slope) { return v > Acc(0) ? Acc(1) : slope; }

}  // namespace deepzine::ops
