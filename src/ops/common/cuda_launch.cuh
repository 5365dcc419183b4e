#pragma once
// Launch helpers for the .cu files: a grid-stride loop per element (or per pixel), launched on the
// caller's stream, with the launch error turned into an exception the host glue reports.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "common/kernel_common.h"

namespace deepzine::ops::cuda {

constexpr int kThreads = 256;

inline dim3 grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;  // grid-stride loop covers the rest
  return dim3(static_cast<unsigned>(blocks < 1 ? 1 : blocks));
}

inline void check_launch(const char* what) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// Runs the statements with `T` bound to the CUDA element type for `dtype` (as AT_DISPATCH does).
#define DZ_DISPATCH(dtype, T, ...)                                              \
  switch (dtype) {                                                              \
    case ::deepzine::ops::DType::f32: { using T = float; __VA_ARGS__; } break;  \
    case ::deepzine::ops::DType::f64: { using T = double; __VA_ARGS__; } break; \
    case ::deepzine::ops::DType::f16: { using T = __half; __VA_ARGS__; } break; \
    case ::deepzine::ops::DType::bf16: { using T = __nv_bfloat16; __VA_ARGS__; } break; \
  }

#define DZ_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

}  // namespace deepzine::ops::cuda
