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
  // Channels of the batches: 0 as stored; 1 turns colour pages grey (luma, BT.601); 3 repeats grey.
  int channels = 0;
  // Start at this batch of the shuffled stream (as if that many had been read): a resumed run reads
  // what the interrupted one would have read next.
  int64_t start_batch = 0;
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
  int channels() const;        // of the batches
  std::vector<int> resolutions() const;
  int64_t epoch() const;       // epochs started by the prefetcher so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sizes s with a data_<s> dataset in `file`, ascending; throws naming the file if it cannot be opened.
std::vector<int> available_resolutions(const std::filesystem::path& file);

// What the pages of `file` hold, for choosing the model's channels: pages stored grey (one channel,
// or three equal ones that load_data stored once) and pages in colour.
struct PageColours {
  int64_t grey = 0, colour = 0;
  int suggested_channels() const { return colour == 0 && grey > 0 ? 1 : 3; }
};
// Counts from pages/kind (format 2) or from the view's channel count (format 1 and the original's
// files, whose RGB pages are counted as colour). Throws naming the file when unreadable.
PageColours page_colours(const std::filesystem::path& file);

}  // namespace deepzine::data
