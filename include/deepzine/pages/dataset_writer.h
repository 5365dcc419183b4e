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

// Reads a string attribute of the root group of `file` ("" when absent).
std::string read_note(const std::filesystem::path& file, const std::string& name);
// The page_count attribute of a closed page file.
int64_t read_page_count(const std::filesystem::path& file);

class DatasetWriter {
 public:
  // Creates (truncates) `file`. sizes: every power of two from 4 to max_size.
  DatasetWriter(const std::filesystem::path& file, int max_size, int channels, const std::string& page_fit);
  ~DatasetWriter();
  // pyramid[0] is the full-size page, then max_size/2 ... 4.
  void append(const std::vector<PageImage>& pyramid, const std::string& name);
  int64_t pages() const;
  // Appends every page of `part`, a closed file of this writer's layout, copying the compressed page
  // chunks as they are (no decompression). Used to join the segments of a resumable build.
  void append_file(const std::filesystem::path& part);
  // A string attribute of the root group, written at close (e.g. the problems a segment met).
  void set_note(const std::string& name, const std::string& value);
  // Writes the attributes and closes the file.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepzine::pages
