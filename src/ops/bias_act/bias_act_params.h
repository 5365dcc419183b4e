#pragma once
// bias_act: y = leaky(x * gain + b[c]), optionally followed by pixel norm over channels.
// Layout: x is [N, C, ...] contiguous (inner = H*W) or channels-last / [N, C] (inner = 1); the channel
// of element i is (i / inner) % C either way.
#include "common/kernel_common.h"

namespace deepzine::ops {

struct BiasActParams {
  int64_t numel = 0;
  int64_t channels = 1;
  int64_t inner = 1;
  double slope = 0.2;  // 1 = linear
  double gain = 1.0;
  double eps = 1e-8;   // pixel norm only
  DZ_HD int64_t pixels() const { return numel / channels; }
};

DZ_HD int64_t channel_of(const BiasActParams& p, int64_t i) { return (i / p.inner) % p.channels; }
// First element of pixel `pix` and the step between its channels.
DZ_HD int64_t pixel_base(const BiasActParams& p, int64_t pix) {
  return (pix / p.inner) * p.channels * p.inner + pix % p.inner;
}

template <class T, class Acc> DZ_HD Acc preact(const BiasActParams& p, const T* x, const T* b, int64_t i, int64_t c) {
  Acc v = load<Acc>(x, i) * Acc(p.gain);
  return b ? v + load<Acc>(b, c) : v;
}

// Forward without pixel norm, element i.
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void bias_act_elem(const BiasActParams& p, int64_t i, const T* x, const T* b, T* y) {
  store(y, i, leaky(preact<T, Acc>(p, x, b, i, channel_of(p, i)), Acc(p.slope)));
}

// Gradient w.r.t. the pre-activation v = x*gain + b, from the forward output y (no pixel norm):
// gv = gy * leaky'(y). Linear in gy with a mask fixed by y, so this is also its own derivative.
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void bias_act_grad_elem(const BiasActParams& p, int64_t i, const T* gy, const T* y, T* gv) {
  store(gv, i, load<Acc>(gy, i) * leaky_slope(load<Acc>(y, i), Acc(p.slope)));
}

// Forward with pixel norm, one pixel (all channels): a = leaky(v), y = a / sqrt(mean_c a^2 + eps).
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void bias_act_pixnorm_pixel(const BiasActParams& p, int64_t pix, const T* x, const T* b, T* y) {
  const int64_t base = pixel_base(p, pix);
  Acc sum = 0;
  for (int64_t c = 0; c < p.channels; ++c) {
    Acc a = leaky(preact<T, Acc>(p, x, b, base + c * p.inner, c), Acc(p.slope));
    sum += a * a;
  }
  const Acc r = Acc(1) / dz_sqrt(sum / Acc(p.channels) + Acc(p.eps));
  for (int64_t c = 0; c < p.channels; ++c) {
    const int64_t i = base + c * p.inner;
    store(y, i, leaky(preact<T, Acc>(p, x, b, i, c), Acc(p.slope)) * r);
  }
}

// Backward of the pixel-norm form, one pixel, recomputing a and r from x:
// ga_c = r*gy_c - r^3 * a_c * sum_k(gy_k a_k) / C, then gv = ga * leaky'(v).
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void bias_act_pixnorm_grad_pixel(const BiasActParams& p, int64_t pix, const T* gy, const T* x, const T* b,
                                       T* gv) {
  const int64_t base = pixel_base(p, pix);
  Acc sum_aa = 0, sum_ga = 0;
  for (int64_t c = 0; c < p.channels; ++c) {
    const int64_t i = base + c * p.inner;
    Acc a = leaky(preact<T, Acc>(p, x, b, i, c), Acc(p.slope));
    sum_aa += a * a;
    sum_ga += load<Acc>(gy, i) * a;
  }
  const Acc r = Acc(1) / dz_sqrt(sum_aa / Acc(p.channels) + Acc(p.eps));
  const Acc k = r * r * r * sum_ga / Acc(p.channels);
  for (int64_t c = 0; c < p.channels; ++c) {
    const int64_t i = base + c * p.inner;
    Acc v = preact<T, Acc>(p, x, b, i, c);
    Acc a = leaky(v, Acc(p.slope));
    store(gv, i, (r * load<Acc>(gy, i) - k * a) * leaky_slope(v, Acc(p.slope)));
  }
}

// CUDA launchers (bias_act.cu); `stream` is a cudaStream_t. Pointers are device pointers of type t.
void bias_act_cuda(const BiasActParams& p, DType t, const void* x, const void* b, void* y, bool pixel_norm,
                   void* stream);
void bias_act_grad_cuda(const BiasActParams& p, DType t, const void* gy, const void* y, void* gv, void* stream);
void bias_act_pixnorm_grad_cuda(const BiasActParams& p, DType t, const void* gy, const void* x, const void* b,
                                void* gv, void* stream);

}  // namespace deepzine::ops
