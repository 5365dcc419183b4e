// The .npy latent reader: any bytes are a finite float32 [N, L] tensor or a runtime_error.
#include <torch/torch.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "deepzine/sample/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    torch::Tensor t = deepzine::sample::parse_npy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
    if (t.dim() != 2 || t.scalar_type() != torch::kFloat32 || !torch::isfinite(t).all().item<bool>()) __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
