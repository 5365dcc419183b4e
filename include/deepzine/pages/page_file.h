#pragma once
// Names inside a page file, shared by the writer (pages/) and the reader (data/).
//
// Format 2 (this version):
//   data_<size>        uint8 [N, size, size, channels], NHWC as h5py users and the original expect:
//                      an HDF5 virtual dataset, a view of the stores below in page order
//   pages/grey_<size>  uint8 [G, size, size, 1]  pages whose channels are all equal, stored once
//   pages/rgb_<size>   uint8 [C, size, size, 3]  colour pages (absent when channels is 1)
//   pages/kind         uint8 [N]  channels stored for page i: 1 (grey store) or 3 (rgb store)
//   pages/row          int64 [N]  page i's row in that store
//   imagenames         variable-length UTF-8 "relative/path.pdf#page" (1-based page), one per page
//   attributes         format_version, sizes, max_size, channels, page_fit, page_count, generator
// Stores hold one page per chunk, gzip level 1 (docs/BENCHMARKS.md). Format 1 (earlier builds) had
// data_<size> itself as the chunked store and no pages/ group; the reader takes both.
#include <string>

namespace deepzine::pages {

constexpr int kDatasetFormatVersion = 2;

inline std::string view_name(int size) { return "data_" + std::to_string(size); }
inline std::string store_name(int size, int stored_channels) {
  return (stored_channels == 1 ? "pages/grey_" : "pages/rgb_") + std::to_string(size);
}
constexpr const char* kKindName = "pages/kind";
constexpr const char* kRowName = "pages/row";

}  // namespace deepzine::pages
