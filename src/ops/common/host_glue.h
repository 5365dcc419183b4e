#pragma once
// Host-side glue shared by the ops: element type mapping, the CUDA stream, and the host loop that
// runs a kernel's element function on the CPU (the "host twin" of a CUDA kernel).
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <torch/types.h>

#include "common/kernel_common.h"

namespace deepzine::ops::glue {

// The kernels' element type for a tensor; throws naming the op for unsupported dtypes.
DType dtype_of(const torch::Tensor& t, const char* op);

// The current CUDA stream of t's device (CUDA builds only; throws otherwise).
void* cuda_stream_for(const torch::Tensor& t);

// True when this build contains the CUDA kernels (DEEPZINE_WITH_CUDA_KERNELS).
bool kernels_compiled();

// Data pointers of optional inputs (an undefined tensor is a null pointer to the kernels).
template <class T> const T* ptr_or_null(const torch::Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; }
inline const void* raw_or_null(const torch::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

// Runs f(i) for i in [0, n) on all CPU threads.
template <class F> void host_for(int64_t n, const F& f) {
  at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(i);
  });
}

// Calls f(T{}) with the host element type of t (float or double; the host twins do not do 16-bit).
template <class F> void host_dispatch(const torch::Tensor& t, const char* op, const F& f) {
  if (t.scalar_type() == torch::kFloat) return f(float{});
  if (t.scalar_type() == torch::kDouble) return f(double{});
  TORCH_CHECK(false, op, ": the CPU kernels take float32 or float64 tensors, got ", t.scalar_type());
}

}  // namespace deepzine::ops::glue
