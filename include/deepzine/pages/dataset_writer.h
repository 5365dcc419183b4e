#pragma once
// The multi-resolution page dataset in HDF5:
//   data_<size>  uint8 [N, size, size, channels] (NHWC, as h5py users and the original expect),
//                one page per chunk, gzip level 1 (see docs/BENCHMARKS.md for the choice)
//   imagenames   variable-length UTF-8 strings "relative/path.pdf#page" (1-based page), one per row
//   attributes   format_version, sizes, max_size, channels, page_fit, page_count, generator
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "deepzine/pages/renderer.h"

namespace deepzine::pages {

constexpr int kDatasetFormatVersion = 1;

class DatasetWriter {
 public:
  // Creates (truncates) `file`. sizes: every power of two from 4 to max_size.
  DatasetWriter(const std::filesystem::path& file, int max_size, int channels, const std::string& page_fit);
  ~DatasetWriter();
  // pyramid[0] is the full-size page, then max_size/2 ... 4.
  void append(const std::vector<PageImage>& pyramid, const std::string& name);
  int64_t pages() const;
  // Writes the attributes and closes the file.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepzine::pages
