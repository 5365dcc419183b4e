#include "deepzine/pages/page_chunks.h"

#include <zlib.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#ifdef DEEPZINE_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#ifdef DEEPZINE_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

namespace deepzine::pages {
namespace {

bool all_channels_equal(const PageImage& img) {
  const uint8_t* p = img.pixels.data();
  for (size_t i = 0, n = static_cast<size_t>(img.size) * img.size; i < n; ++i, p += 3) {
    if (p[0] != p[1] || p[0] != p[2]) return false;
  }
  return true;
}

// The first of three equal channels: what a grey page stores.
std::vector<uint8_t> first_channel(const PageImage& img) {
  std::vector<uint8_t> plane(img.pixels.size() / 3);
  for (size_t p = 0; p < plane.size(); ++p) plane[p] = img.pixels[3 * p];
  return plane;
}

std::vector<uint8_t> inflate_exactly(const std::vector<uint8_t>& packed, size_t size) {
  std::vector<uint8_t> out(size);
  uLongf got = static_cast<uLongf>(size);
  if (uncompress(out.data(), &got, packed.data(), static_cast<uLong>(packed.size())) != Z_OK || got != size) {
    throw std::runtime_error("a page chunk does not inflate to its page size");
  }
  return out;
}

#ifdef DEEPZINE_HAVE_LIBDEFLATE
// One compressor per thread: allocating one costs more than deflating a small page.
struct Compressor {
  libdeflate_compressor* handle = libdeflate_alloc_compressor(kDeflateLevel);
  ~Compressor() { libdeflate_free_compressor(handle); }
};
#endif

#ifdef DEEPZINE_HAVE_ISAL
// ISA-L's igzip (Intel's SIMD deflate) at its level 1 deflates a 1024x1024 page 6-7x faster than
// libdeflate's level 1, into chunks 6-8% larger; at 1024 deflating was a quarter of load_data's CPU
// (docs/BENCHMARKS.md, issue 18). The stream is plain zlib: HDF5's filter, h5py and the reader inflate it.
// Returns false (and the caller deflates with the next library) when igzip cannot do it.
bool deflate_with_isal(const uint8_t* bytes, size_t size, std::vector<uint8_t>& out) {
  if (size > std::numeric_limits<uint32_t>::max() / 2) return false;
  thread_local std::vector<uint8_t> level_buffer(ISAL_DEF_LVL1_DEFAULT);
  thread_local std::vector<uint8_t> scratch;
  // Room for stored blocks (5 bytes per 64 KiB) and the headers, so incompressible pages fit too.
  const size_t room = size + size / 8 + 4096;
  if (scratch.size() < room) scratch.resize(room);
  isal_zstream stream;
  isal_deflate_stateless_init(&stream);
  stream.level = kDeflateLevel;
  stream.level_buf = level_buffer.data();
  stream.level_buf_size = static_cast<uint32_t>(level_buffer.size());
  stream.gzip_flag = IGZIP_ZLIB;
  stream.end_of_stream = 1;
  stream.flush = NO_FLUSH;
  stream.next_in = const_cast<uint8_t*>(bytes);
  stream.avail_in = static_cast<uint32_t>(size);
  stream.next_out = scratch.data();
  stream.avail_out = static_cast<uint32_t>(room);
  if (isal_deflate_stateless(&stream) != COMP_OK || stream.avail_in != 0) return false;
  out.assign(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(stream.total_out));
  return true;
}
#endif

}  // namespace

const char* deflate_library() {
#if defined(DEEPZINE_HAVE_ISAL)
  return "isa-l";
#elif defined(DEEPZINE_HAVE_LIBDEFLATE)
  return "libdeflate";
#else
  return "zlib";
#endif
}

std::vector<uint8_t> deflate_chunk(const uint8_t* bytes, size_t size) {
#ifdef DEEPZINE_HAVE_ISAL
  std::vector<uint8_t> fast;
  if (deflate_with_isal(bytes, size, fast)) return fast;
#endif
#ifdef DEEPZINE_HAVE_LIBDEFLATE
  thread_local Compressor compressor;
  // The worst case is a little more than the input: deflate into one reused buffer (no zero-filled
  // megabytes per page) and copy out only what was written.
  thread_local std::vector<uint8_t> scratch;
  if (!compressor.handle) throw std::runtime_error("cannot allocate a deflate compressor (out of memory)");
  const size_t bound = libdeflate_zlib_compress_bound(compressor.handle, size);
  if (scratch.size() < bound) scratch.resize(bound);
  const size_t written = libdeflate_zlib_compress(compressor.handle, bytes, size, scratch.data(), bound);
  if (written == 0) throw std::runtime_error("deflating a page failed");
  std::vector<uint8_t> out(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(written));
#else
  uLongf written = compressBound(static_cast<uLong>(size));
  std::vector<uint8_t> out(written);
  if (compress2(out.data(), &written, bytes, static_cast<uLong>(size), kDeflateLevel) != Z_OK) {
    throw std::runtime_error("deflating a page failed");
  }
  out.resize(written);
#endif
  return out;
}

CompressedPage compress_pyramid(const std::vector<PageImage>& pyramid, bool store_grey_once) {
  CompressedPage page;
  const int channels = pyramid.empty() ? 3 : pyramid.front().channels;
  bool grey = channels == 1 || store_grey_once;
  for (const PageImage& level : pyramid) {
    if (level.channels != channels) throw std::logic_error("pyramid levels have different channel counts");
    if (grey && channels == 3) grey = all_channels_equal(level);
  }
  page.kind = grey ? 1 : 3;
  for (const PageImage& level : pyramid) {
    if (page.kind == 1 && channels == 3) {
      const std::vector<uint8_t> plane = first_channel(level);
      page.levels.push_back(deflate_chunk(plane.data(), plane.size()));
    } else {
      page.levels.push_back(deflate_chunk(level.pixels.data(), level.pixels.size()));
    }
  }
  return page;
}

CompressedPage compress_page(const PageImage& full, bool store_grey_once) {
  CompressedPage page;
  page.kind = full.channels == 1 || (store_grey_once && all_channels_equal(full)) ? 1 : 3;
  // A grey page: every level of an area-averaged pyramid of three equal channels has three equal
  // channels (equal sums round alike), so the pyramid of one channel is the stored page, made and
  // deflated at a third of the work.
  PageImage plane;
  const PageImage* stored = &full;
  if (page.kind == 1 && full.channels == 3) {
    plane.size = full.size;
    plane.channels = 1;
    plane.pixels = first_channel(full);
    stored = &plane;
  }
  page.levels.push_back(deflate_chunk(stored->pixels.data(), stored->pixels.size()));
  for (const PageImage& level : downsample_pyramid(*stored)) {
    page.levels.push_back(deflate_chunk(level.pixels.data(), level.pixels.size()));
  }
  return page;
}

std::vector<uint8_t> grey_chunk_as_rgb(const std::vector<uint8_t>& packed, int size) {
  const size_t n = static_cast<size_t>(size) * size;
  const std::vector<uint8_t> grey = inflate_exactly(packed, n);
  std::vector<uint8_t> rgb(3 * n);
  for (size_t i = 0; i < n; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
  return deflate_chunk(rgb.data(), rgb.size());
}

}  // namespace deepzine::pages
