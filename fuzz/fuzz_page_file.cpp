// The page-file reader (HDF5): any file is read as pages in [-1, 1] or refused with a runtime_error.
#include <H5public.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "deepzine/probe/hdf5_probe.h"
#include "deepzine/data/page_dataset.h"
#include "fuzz_common.h"

// The product's HDF5 probe walks every input in a child first; one kept child instead of a fork per
// input (a fork copies the page tables of all this process's memory).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  deepzine::probe::set_probe_children(deepzine::probe::ProbeChildren::kReused);
  // A walk that HDF5 never finishes is refused after 100 ms (the product waits 120 s). The seeds walk
  // in 1-4 ms here, sanitizer included. Damaged global heaps of the format-2 seed's mutants keep HDF5
  // looping until the limit: at 5 s (twice, as a kept child's timeout was retried) they held the run
  // to 18 exec/s; the seeds' -runs=3000 -seed=1: 60 exec/s at 1 s, 125 at 250 ms, 250-272 at 100 ms.
  deepzine::probe::set_probe_time_limit(std::chrono::milliseconds(100));
  // Every file HDF5 opens gets a metadata cache of ~600 KB, zero-filled. HDF5 keeps freed blocks for
  // reuse only up to 64 KB a kind, so each open took fresh pages from the sanitizer's allocator (which
  // maps and unmaps every large block): a third of the time in page faults. Keep up to 4 MB a kind
  // (16 MB in all); the other limits are HDF5's defaults.
  H5set_free_list_limits(16 << 20, 4 << 20, 4 << 20, 256 << 10, 16 << 20, 1 << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = deepzine::fuzz::scratch_file("pages.h5", data, size);
  try {
    const std::vector<int> resolutions = deepzine::data::available_resolutions(file);
    if (!resolutions.empty()) deepzine::data::page_colours(file);
    for (int resolution : resolutions) {
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
