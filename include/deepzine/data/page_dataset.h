#pragma once
// Streams shuffled batches of pages at one resolution from the HDF5 dataset, as float tensors in
// [-1, 1] (NCHW), with a background prefetch thread; never loads the whole file. Reads both this
// project's uint8 layout and the original DeepZine's float32 layout (both NHWC `data_<size>`).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include <torch/types.h>

namespace deepzine::data {

struct PageDatasetOptions {
  std::filesystem::path file;
  int resolution = 4;           // reads data_<resolution>
  int batch_size = 16;
  uint64_t seed = 0;            // shuffle order; a new permutation every epoch
  int prefetch_batches = 4;     // depth of the background queue
  bool pin_memory = false;      // page-locked batches for asynchronous copies to CUDA
  int rank = 0, world_size = 1; // each rank reads a disjoint share of every epoch's permutation
};

class PageDataset {
 public:
  // Throws std::runtime_error naming the file and dataset (and the sizes it has) when unusable.
  explicit PageDataset(PageDatasetOptions options);
  ~PageDataset();
  PageDataset(const PageDataset&) = delete;
  PageDataset& operator=(const PageDataset&) = delete;

  torch::Tensor next_batch();  // float32 [B, C, R, R] in [-1, 1]
  int64_t size() const;        // pages in the file
  int channels() const;
  std::vector<int> resolutions() const;
  int64_t epoch() const;       // epochs started by the prefetcher so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sizes s with a data_<s> dataset in `file`, ascending; throws naming the file if it cannot be opened.
std::vector<int> available_resolutions(const std::filesystem::path& file);

}  // namespace deepzine::data
