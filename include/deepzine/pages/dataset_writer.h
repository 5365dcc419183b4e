#pragma once
// Writes the multi-resolution page file (layout: deepzine/pages/page_file.h).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "deepzine/pages/page_chunks.h"
#include "deepzine/pages/page_file.h"
#include "deepzine/pages/renderer.h"

namespace deepzine::pages {

struct PageLayout {
  int max_size = 1024;  // sizes: every power of two from 4 to max_size
  int channels = 3;
  std::string page_fit = "stretch";
  // Pages whose three channels are equal (most typeset and scanned books) are stored once, as one
  // channel, and data_<size> shows them as RGB: the file is about 40% smaller and the reader inflates a
  // third of the bytes. False stores every page in three channels (h5py then reads data_<size> at the
  // speed of a plain dataset instead of through the per-channel view).
  bool compact_grey_pages = true;
  // data_<size> needs one view mapping per run of same-kind pages; past this many runs the remaining
  // grey pages are stored as RGB, so a corpus alternating grey and colour pages stays quick to open.
  int max_runs = 1024;
};

// Reads a string attribute of the root group of `file` ("" when absent).
std::string read_note(const std::filesystem::path& file, const std::string& name);
// The page_count attribute of a closed page file.
int64_t read_page_count(const std::filesystem::path& file);
// Reopens a finished page file and checks it before it counts: its page_count (= expected_pages
// unless that is -1), every level's page count, and the last page of every level readable. Throws
// std::runtime_error "page file FILE does not verify ..." otherwise. HDF5 reads it in a forked child
// (deepzine/probe/hdf5_probe.h): a damaged or hostile file it crashes or loops on is refused by name
// ("dataset FILE: makes the HDF5 library crash ..."), not the end of the run.
void verify_page_file(const std::filesystem::path& file, int64_t expected_pages = -1);

class DatasetWriter {
 public:
  // Creates (truncates) `file`.
  DatasetWriter(const std::filesystem::path& file, PageLayout layout);
  ~DatasetWriter();
  // pyramid[0] is the full-size page, then max_size/2 ... 4.
  void append(const std::vector<PageImage>& pyramid, const std::string& name);
  // A page already compressed (compress_pyramid) for this layout: its chunks are written as they are.
  void append_compressed(const CompressedPage& page, const std::string& name);
  int64_t pages() const;
  // Appends every page of `part`, a closed file of this writer's layout, copying the compressed page
  // chunks as they are (no decompression). Used to join the segments of a resumable build.
  void append_file(const std::filesystem::path& part);
  // A string attribute of the root group, written at close (e.g. the problems a segment met).
  void set_note(const std::string& name, const std::string& value);
  // Writes the page index, the data_<size> views and the attributes, and closes the file.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepzine::pages
