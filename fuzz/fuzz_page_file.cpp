// The page-file reader (HDF5): any file is read as pages in [-1, 1] or refused with a runtime_error.
#include <torch/torch.h>

#include <cstdint>
#include <stdexcept>

#include "deepzine/data/page_dataset.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = deepzine::fuzz::scratch_file("pages.h5", data, size);
  try {
    for (int resolution : deepzine::data::available_resolutions(file)) {
      deepzine::data::page_colours(file);
      deepzine::data::PageDatasetOptions options;
      options.file = file;
      options.resolution = resolution;
      options.batch_size = 2;
      options.prefetch_batches = 1;
      deepzine::data::PageDataset pages(options);
      for (int i = 0; i < 2; ++i) {
        torch::Tensor batch = pages.next_batch();
        if (batch.numel() > 0 && (batch.min().item<float>() < -1.0001f || batch.max().item<float>() > 1.0001f)) {
          // The original's float32 files may hold anything; uint8 pages never leave [-1, 1].
          if (batch.scalar_type() != torch::kFloat32) __builtin_trap();
        }
      }
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
