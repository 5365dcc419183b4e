#pragma once
// minibatch_stddev: x [N, C, H, W] (NCHW contiguous), N = G groups x M members, sample n = g*M + m.
// sd[m, f] = sqrt(var_g x[g*M + m, f] + eps) over the F = C*H*W features; s[m] = mean_f sd[m, f];
// out = cat(x, s[n % M] broadcast to one channel).
#include "common/kernel_common.h"

namespace deepzine::ops {

struct MbstdParams {
  int64_t groups = 1;    // G
  int64_t members = 1;   // M = N / G
  int64_t channels = 1;  // C
  int64_t inner = 1;     // H*W
  double eps = 1e-8;
  DZ_HD int64_t features() const { return channels * inner; }
  DZ_HD int64_t numel() const { return groups * members * features(); }
};

// Mean and standard deviation over the group of feature f of member m.
template <class T, class Acc>
DZ_HD void mbstd_moments(const MbstdParams& p, int64_t m, int64_t f, const T* x, Acc& mean, Acc& sd) {
  const int64_t F = p.features(), stride = p.members * F, base = m * F + f;
  Acc sum = 0;
  for (int64_t g = 0; g < p.groups; ++g) sum += load<Acc>(x, base + g * stride);
  mean = sum / Acc(p.groups);
  Acc var = 0;
  for (int64_t g = 0; g < p.groups; ++g) {
    Acc d = load<Acc>(x, base + g * stride) - mean;
    var += d * d;
  }
  sd = dz_sqrt(var / Acc(p.groups) + Acc(p.eps));
}

// sd[j] for j = m*F + f in [0, M*F).
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void mbstd_sd_elem(const MbstdParams& p, int64_t j, const T* x, Acc* sd) {
  Acc mean, s;
  mbstd_moments<T, Acc>(p, j / p.features(), j % p.features(), x, mean, s);
  sd[j] = s;
}

// out element i of [N, C + 1, H, W]: a copy of x, or s[n % M] in the extra channel.
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void mbstd_out_elem(const MbstdParams& p, int64_t i, const T* x, const Acc* s, T* out) {
  const int64_t plane = p.inner, per_sample = (p.channels + 1) * plane;
  const int64_t n = i / per_sample, r = i % per_sample, c = r / plane;
  if (c < p.channels)
    out[i] = x[n * p.features() + r];
  else
    store(out, i, s[n % p.members]);
}

// gx element i of [N, C, H, W]: gy's copy plus the stddev path,
// gs[m] / F * (x - mean) / (G * sd), with gs[m] the summed gradient of member m's extra channel.
template <class T, class Acc = typename AccOf<T>::type>
DZ_HD void mbstd_grad_elem(const MbstdParams& p, int64_t i, const T* gy, const T* x, const Acc* gs, T* gx) {
  const int64_t F = p.features(), n = i / F, f = i % F, m = n % p.members;
  Acc mean, sd;
  mbstd_moments<T, Acc>(p, m, f, x, mean, sd);
  const Acc g_copy = load<Acc>(gy, n * (p.channels + 1) * p.inner + f);
  store(gx, i, g_copy + gs[m] / Acc(F) * (load<Acc>(x, i) - mean) / (Acc(p.groups) * sd));
}

// CUDA launchers (minibatch_stddev.cu). sd, s and gs are float (double for f64) device buffers.
void mbstd_sd_cuda(const MbstdParams& p, DType t, const void* x, void* sd, void* stream);
void mbstd_out_cuda(const MbstdParams& p, DType t, const void* x, const void* s, void* out, void* stream);
void mbstd_grad_cuda(const MbstdParams& p, DType t, const void* gy, const void* x, const void* gs, void* gx,
                     void* stream);

}  // namespace deepzine::ops
