// The checkpoint loader (zip + pickle, then the generator built from it): a model or a runtime_error.
#include <torch/torch.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "deepzine/model/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto checkpoint = deepzine::model::parse_checkpoint(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pt");
    auto loaded = deepzine::model::generator_for_inference(checkpoint, "fuzz.pt", torch::kCPU);
    torch::NoGradGuard no_grad;
    loaded.generator->forward(torch::zeros({1, checkpoint.meta.arch.latent_size}), checkpoint.meta.resolution);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
