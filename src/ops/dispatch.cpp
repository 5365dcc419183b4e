// Chooses between the fused kernels and the ATen reference for each op: fused on CUDA tensors when
// this build has the kernels and they are enabled (config key cuda_kernels); the reference on CPU,
// where ATen's vectorised kernels are as fast as the host loops (docs/BENCHMARKS.md, "Ops").
#include <atomic>

#include "common/host_glue.h"
#include "deepzine/ops/fused.h"
#include "deepzine/ops/ops.h"
#include "deepzine/ops/reference.h"

namespace deepzine::ops {
namespace {
std::atomic<bool> g_cuda_kernels{true};
std::atomic<bool> g_host_kernels{false};
}  // namespace

bool dispatches_to_fused(c10::DeviceType device, c10::ScalarType dtype) {
  if (device == c10::DeviceType::CUDA) return g_cuda_kernels && glue::kernels_compiled();
  return g_host_kernels && device == c10::DeviceType::CPU && (dtype == torch::kFloat || dtype == torch::kDouble);
}

namespace {
bool use_fused(const torch::Tensor& x) { return dispatches_to_fused(x.device().type(), x.scalar_type()); }
}  // namespace

void set_cuda_kernels_enabled(bool on) { g_cuda_kernels = on; }
void set_host_kernels_enabled(bool on) { g_host_kernels = on; }
bool cuda_kernels_compiled() { return glue::kernels_compiled(); }

torch::Tensor bias_act(const torch::Tensor& x, const torch::Tensor& bias, double slope, double gain,
                       bool pixel_norm, double eps) {
  if (use_fused(x)) return fused::bias_act(x, bias, slope, gain, pixel_norm, eps);
  return reference::bias_act(x, bias, slope, gain, pixel_norm, eps);
}
torch::Tensor minibatch_stddev(const torch::Tensor& x, int64_t group_size, double eps) {
  if (use_fused(x)) return fused::minibatch_stddev(x, group_size, eps);
  return reference::minibatch_stddev(x, group_size, eps);
}
torch::Tensor upsample_lerp(const torch::Tensor& old_rgb, const torch::Tensor& new_rgb, double alpha) {
  if (use_fused(old_rgb)) return fused::upsample_lerp(old_rgb, new_rgb, alpha);
  return reference::upsample_lerp(old_rgb, new_rgb, alpha);
}
torch::Tensor downsample_lerp(const torch::Tensor& hi, const torch::Tensor& old_lo, double alpha) {
  if (use_fused(hi)) return fused::downsample_lerp(hi, old_lo, alpha);
  return reference::downsample_lerp(hi, old_lo, alpha);
}

}  // namespace deepzine::ops
