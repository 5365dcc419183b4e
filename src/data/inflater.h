// Inflates one zlib stream (an HDF5 deflate chunk) of known size, for the page readers.
#pragma once

#include <zlib.h>
#ifdef DEEPZINE_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <cstddef>
#include <cstdint>
#include <vector>

namespace deepzine::data {

// libdeflate when the build has it (about twice zlib's speed, measured in docs/BENCHMARKS.md), else
// zlib. inflate() succeeds only when the stream holds exactly out_bytes: a chunk that inflates to
// fewer or more bytes than its chunk is damaged.
class Inflater {
 public:
#ifdef DEEPZINE_HAVE_LIBDEFLATE
  Inflater() : d_(libdeflate_alloc_decompressor()) {}
  ~Inflater() { libdeflate_free_decompressor(d_); }
  bool inflate(const std::vector<uint8_t>& in, uint8_t* out, size_t out_bytes) {
    size_t got = 0;
    return d_ && libdeflate_zlib_decompress(d_, in.data(), in.size(), out, out_bytes, &got) == LIBDEFLATE_SUCCESS &&
           got == out_bytes;
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

 private:
  libdeflate_decompressor* d_;
#else
  bool inflate(const std::vector<uint8_t>& in, uint8_t* out, size_t out_bytes) {
    uLongf got = static_cast<uLongf>(out_bytes);
    return uncompress(out, &got, in.data(), static_cast<uLong>(in.size())) == Z_OK && got == out_bytes;
  }
#endif
};

}  // namespace deepzine::data
