#pragma once
// The fade-in of a resolution change, fused: G blends nearest-2x(old) with new, D blends the old path
// with 2x2-average-pooled new features. Both are one linear map of this form:
//   upsample_add:   out[2y+i, 2x+j] = w_main * lo[y, x] + w_other * other[2y+i, 2x+j]
//   downsample_add: out[y, x]       = w_main * sum_{i,j} hi[2y+i, 2x+j] + w_other * other[y, x]
// and the adjoint of each is the other one, which is what makes every derivative order fused.
// Tensors are NCHW contiguous; `planes` = N*C; (h, w) is the low resolution; `other` may be null.
#include "common/kernel_common.h"

namespace deepzine::ops {

struct ResampleParams {
  int64_t planes = 1;
  int64_t h = 1, w = 1;  // low-resolution size
  double w_main = 1.0, w_other = 0.0;
  DZ_HD int64_t lo_numel() const { return planes * h * w; }
  DZ_HD int64_t hi_numel() const { return planes * h * w * 4; }
};

template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void upsample_add_elem(const ResampleParams& p, int64_t i, const T* lo, const T* other, T* out) {
  const int64_t W = 2 * p.w, plane = i / (4 * p.h * p.w), r = i % (4 * p.h * p.w);
  const int64_t y = (r / W) / 2, x = (r % W) / 2;
  Acc v = Acc(p.w_main) * load<Acc>(lo, (plane * p.h + y) * p.w + x);
  if (other) v += Acc(p.w_other) * load<Acc>(other, i);
  store(out, i, v);
}

template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void downsample_add_elem(const ResampleParams& p, int64_t i, const T* hi, const T* other, T* out) {
  const int64_t plane = i / (p.h * p.w), r = i % (p.h * p.w), y = r / p.w, x = r % p.w, W = 2 * p.w;
  const int64_t top = (plane * 2 * p.h + 2 * y) * W + 2 * x;
  Acc sum = load<Acc>(hi, top) + load<Acc>(hi, top + 1) + load<Acc>(hi, top + W) + load<Acc>(hi, top + W + 1);
  Acc v = Acc(p.w_main) * sum;
  if (other) v += Acc(p.w_other) * load<Acc>(other, i);
  store(out, i, v);
}

// CUDA launchers (resample_lerp.cu).
void upsample_add_cuda(const ResampleParams& p, DType t, const void* lo, const void* other, void* out, void* stream);
void downsample_add_cuda(const ResampleParams& p, DType t, const void* hi, const void* other, void* out,
                         void* stream);

}  // namespace deepzine::ops
