#pragma once
// A rendered page as the page file stores it: one deflated chunk per pyramid level, in the store of
// its kind (1: a grey page stored once, 3: RGB). Made by the render workers, so the writer only
// writes chunks (H5Dwrite_chunk) and never compresses.
#include <cstdint>
#include <vector>

#include "deepzine/pages/renderer.h"

namespace deepzine::pages {

// The deflate level of every page chunk (ISA-L's, libdeflate's or zlib's level 1): most of gzip 9's
// saving at a fraction of its cost (docs/BENCHMARKS.md). The stores' HDF5 deflate filter inflates it.
constexpr int kDeflateLevel = 1;

struct CompressedPage {
  int kind = 3;                              // channels stored: 1 or 3
  std::vector<std::vector<uint8_t>> levels;  // deflated HWC uint8, max_size first, then /2 ... 4
};

// The chunks of a pyramid (pyramid[0] full size, then max_size/2 ... 4). A three-channel page whose
// channels are equal at every level is stored as one channel when `store_grey_once`.
CompressedPage compress_pyramid(const std::vector<PageImage>& pyramid, bool store_grey_once);

// The chunks of a full-size page and its pyramid (downsample_pyramid): the same chunks as
// compress_pyramid of that pyramid, with a grey page's pyramid made from one channel.
CompressedPage compress_page(const PageImage& full, bool store_grey_once);

// zlib-format deflate of `bytes` (what HDF5's deflate filter reads), with the fastest library the
// build has: ISA-L's igzip, else libdeflate, else zlib; throws std::runtime_error on failure.
std::vector<uint8_t> deflate_chunk(const uint8_t* bytes, size_t size);

// The library deflate_chunk uses first: "isa-l", "libdeflate" or "zlib".
const char* deflate_library();

// A grey chunk of a size×size page re-encoded as a three-channel chunk (for a writer that must store
// a grey page as RGB); throws std::runtime_error when it does not inflate to size×size bytes.
std::vector<uint8_t> grey_chunk_as_rgb(const std::vector<uint8_t>& packed, int size);

}  // namespace deepzine::pages
