#include "common/host_glue.h"

namespace deepzine::ops::glue {

DType dtype_of(const torch::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case torch::kFloat: return DType::f32;
    case torch::kDouble: return DType::f64;
    case torch::kHalf: return DType::f16;
    case torch::kBFloat16: return DType::bf16;
    default: TORCH_CHECK(false, op, ": unsupported tensor type ", t.scalar_type(), " (use a floating type)");
  }
}


}  // namespace deepzine::ops::glue
