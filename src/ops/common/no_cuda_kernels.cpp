// Builds against a LibTorch without CUDA: the CUDA entry points exist but say why they cannot run.
// (No CUDA tensor can exist in such a build, so these are reached only by a programming error.)
#include "bias_act/bias_act_params.h"
#include "common/host_glue.h"
#include "minibatch_stddev/minibatch_stddev_params.h"
#include "resample_lerp/resample_lerp_params.h"

namespace deepzine::ops {
namespace {
[[noreturn]] void unavailable() {
  TORCH_CHECK(false, "deepzine was built without its CUDA kernels (LibTorch without CUDA); "
              "set cuda_kernels: False or rebuild with a CUDA LibTorch (scripts/build_gpu.sh)");
}
}  // namespace

namespace glue {
void* cuda_stream_for(const torch::Tensor&) { unavailable(); }
bool kernels_compiled() { return false; }
}  // namespace glue

void bias_act_cuda(const BiasActParams&, DType, const void*, const void*, void*, bool, void*) { unavailable(); }
void bias_act_grad_cuda(const BiasActParams&, DType, const void*, const void*, void*, void*) { unavailable(); }
void bias_act_pixnorm_grad_cuda(const BiasActParams&, DType, const void*, const void*, const void*, void*, void*) {
  unavailable();
}
void mbstd_sd_cuda(const MbstdParams&, DType, const void*, void*, void*) { unavailable(); }
void mbstd_out_cuda(const MbstdParams&, DType, const void*, const void*, void*, void*) { unavailable(); }
void mbstd_grad_cuda(const MbstdParams&, DType, const void*, const void*, const void*, void*, void*) { unavailable(); }
void upsample_add_cuda(const ResampleParams&, DType, const void*, const void*, void*, void*) { unavailable(); }
void downsample_add_cuda(const ResampleParams&, DType, const void*, const void*, void*, void*) { unavailable(); }

}  // namespace deepzine::ops
