#include "row_reader.h"

#include "dataset_error.h"

#include <zlib.h>
#ifdef DEEPZINE_HAVE_BLOSC
#include <blosc.h>
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

namespace deepzine::data {
namespace {

// The most values one row may hold: 16x a 1024x1024 RGB page.
constexpr uint64_t kMaxRowElements = uint64_t(1) << 26;

// The largest chunk a page writer makes (and the builder lets through).
constexpr uint64_t kMaxChunkBytes = uint64_t(64) << 20;

// A chunk row kept decoded is bounded so that odd layouts (many tall chunks) cannot hold gigabytes.
constexpr size_t kMaxKeptChunkRowBytes = size_t(64) << 20;

constexpr bool kHostBigEndian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;

// Undoes HDF5's shuffle filter: byte b of element i was stored at b * count + i.
void unshuffle(const std::vector<uint8_t>& in, std::vector<uint8_t>& out, size_t element) {
  out.resize(in.size());
  const size_t count = in.size() / element;
  for (size_t i = 0; i < count; ++i)
    for (size_t b = 0; b < element; ++b) out[i * element + b] = in[b * count + i];
  std::copy(in.begin() + static_cast<std::ptrdiff_t>(count * element), in.end(),
            out.begin() + static_cast<std::ptrdiff_t>(count * element));  // a partial element is left as is
}

// The integer of `bytes` bytes at `at`, in the stored byte order, widened to 64 bits (sign-extended
// when signed).
uint64_t load_integer(const uint8_t* at, size_t bytes, bool big_endian, bool is_signed) {
  uint64_t value = 0;
  for (size_t b = 0; b < bytes; ++b) {
    const size_t significance = big_endian ? bytes - 1 - b : b;
    value |= uint64_t(at[b]) << (8 * significance);
  }
  if (is_signed && bytes < 8 && (value >> (8 * bytes - 1)) & 1) value |= ~uint64_t(0) << (8 * bytes);
  return value;
}

}  // namespace

RowReader::~RowReader() {
  if (file_descriptor_ >= 0) ::close(file_descriptor_);
}

void RowReader::fail(const std::string& what) const {
  throw dataset_error(file_, store_.name + " " + what);
}

RowReader::RowReader(StoreMap store, std::filesystem::path file, MemoryType memory_type)
    : store_(std::move(store)), file_(std::move(file)), memory_type_(memory_type) {
  memory_bytes_ = memory_type_ == MemoryType::kUint8 ? 1 : memory_type_ == MemoryType::kInt64 ? 8 : 4;
  check_type();
  element_ = store_.type.bytes;
  same_type_ = element_ == memory_bytes_ && store_.type.is_float == (memory_type_ == MemoryType::kFloat32) &&
               !store_.type.is_signed && (element_ == 1 || store_.type.big_endian == kHostBigEndian);
  check_layout();
  if (store_.layout != StoreLayout::kCompact) open_file();
}

// The store holds what this reader converts from: float32 for float rows, integers of 1 to 8 bytes else.
void RowReader::check_type() const {
  const StoredType& type = store_.type;
  const bool want_float = memory_type_ == MemoryType::kFloat32;
  const bool integer_ok = !type.is_float && (type.bytes == 1 || type.bytes == 2 || type.bytes == 4 || type.bytes == 8);
  if (want_float ? !(type.is_float && type.bytes == 4) : !integer_ok) {
    fail(std::string("does not hold ") + (want_float ? "float32 values" : "integers") +
         " like the rest of the file; rebuild it with load_data");
  }
}

// The map's shape, bounded before anything is sized by it (the builder checked the file's claims
// with clearer messages; these hold the reader's own arithmetic safe).
void RowReader::check_layout() {
  const uint64_t* dims = store_.dims;
  if (store_.rank < 1 || store_.rank > 4) fail("has " + std::to_string(store_.rank) + " dimensions; rebuild the file with load_data");
  if (dims[1] > kMaxRowElements || dims[2] > kMaxRowElements / std::max<uint64_t>(dims[1], 1) ||
      dims[3] > kMaxRowElements / std::max<uint64_t>(dims[1] * dims[2], 1)) {
    fail("has rows of more than " + std::to_string(kMaxRowElements) + " values; the file is damaged: rebuild it with load_data");
  }
  row_elements_ = static_cast<size_t>(dims[1] * dims[2] * dims[3]);
  const uint64_t row_stored = row_elements_ * element_;
  if (store_.layout == StoreLayout::kCompact) {
    if (dims[0] > store_.compact_bytes.size() / std::max<uint64_t>(row_stored, 1)) fail("stores fewer bytes than its extent");
    return;
  }
  if (store_.layout == StoreLayout::kContiguous) {
    uint64_t total = 0;
    if (__builtin_mul_overflow(dims[0], row_stored, &total) ||
        store_.contiguous_address > std::numeric_limits<uint64_t>::max() - total) {
      fail("is larger than any file; the file is damaged: rebuild it with load_data");
    }
    return;
  }
  uint64_t grid = 1, bytes = element_;
  for (int d = 0; d < 4; ++d) {
    if (store_.chunk[d] == 0 || (d > 0 && store_.chunk[d] > std::max<uint64_t>(dims[d], 1))) fail("has an impossible chunk layout");
    bytes *= store_.chunk[d];
    if (bytes > kMaxChunkBytes) fail("has chunks of more than 64 MiB; rebuild the file with load_data");
    if (__builtin_mul_overflow(grid, store_.grid(d), &grid)) fail("has more chunks than any file holds");
  }
  if (grid != store_.chunks.size()) fail("has a chunk index that does not cover its extent; the file is damaged: rebuild it with load_data");
  for (uint16_t id : store_.filters) {
    if (id != kFilterDeflate && id != kFilterShuffle && id != kFilterBlosc) fail("is stored with a filter deepzine does not read");
  }
  chunk_bytes_ = static_cast<size_t>(bytes);
  // The stored size is the file's claim: unfiltered, at most the chunk (a shorter one fails the size
  // check after decoding); compressed, at most zlib's bound.
  const bool compressed = std::any_of(store_.filters.begin(), store_.filters.end(), [](uint16_t id) { return id != kFilterShuffle; });
  max_stored_bytes_ = compressed ? compressBound(static_cast<uLong>(chunk_bytes_)) + 64 : chunk_bytes_;
  const size_t per_row = static_cast<size_t>(store_.grid(1) * store_.grid(2) * store_.grid(3));
  keep_decoded_ = store_.chunk[0] > 1 && per_row * chunk_bytes_ <= kMaxKeptChunkRowBytes;
  decoded_.resize(keep_decoded_ ? per_row : 1);
}

// The file's own descriptor for its bytes, and its size.
void RowReader::open_file() {
  file_descriptor_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (file_descriptor_ < 0 || ::fstat(file_descriptor_, &st) != 0) fail("cannot be opened: " + std::string(std::strerror(errno)));
  file_bytes_ = static_cast<uint64_t>(st.st_size);
}

// `bytes` bytes at HDF5's `address` (the base address added), checked to lie in the file.
void RowReader::read_bytes(uint64_t address, uint64_t bytes, uint8_t* out, const std::string& where) {
  // HDF5 addresses count from the superblock, which a user block (HDF5's base address) puts further in.
  const uint64_t base = store_.base_address;
  if (address > file_bytes_ || base > file_bytes_ - address || bytes > file_bytes_ - address - base) {
    fail("places " + where + " outside the file; the file is damaged or cut short: rebuild it with load_data");
  }
  size_t done = 0;
  while (done < bytes) {
    const ssize_t got = ::pread(file_descriptor_, out + done, bytes - done, static_cast<off_t>(base + address + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail("cannot read " + where + (got < 0 ? std::string(": ") + std::strerror(errno) : ": the file is shorter"));
    done += static_cast<size_t>(got);
  }
}

uint32_t RowReader::read_raw_chunk(const uint64_t* offset, std::vector<uint8_t>& out, const std::string& where) {
  if (store_.layout != StoreLayout::kChunked) fail("is not chunked");
  uint64_t index = 0;
  for (int d = 0; d < 4; ++d) {
    const uint64_t at = offset[d] / store_.chunk[d];
    if (at >= store_.grid(d)) fail("has no " + where);
    index = index * store_.grid(d) + at;
  }
  const ChunkLocation& chunk = store_.chunks[static_cast<size_t>(index)];
  if (chunk.bytes > max_stored_bytes_) {
    fail("claims " + std::to_string(chunk.bytes) + " stored bytes for " + where + " of " + std::to_string(chunk_bytes_) +
         " bytes; the file is damaged: rebuild it with load_data");
  }
  out.resize(chunk.bytes);
  read_bytes(chunk.address, chunk.bytes, out.data(), where);
  return chunk.filter_mask;
}

void RowReader::read(int64_t row, uint8_t* out) {
  if (row < 0 || static_cast<uint64_t>(row) >= store_.dims[0]) {
    fail("has no row " + std::to_string(row) + " (it has " + std::to_string(store_.dims[0]) + ")");
  }
  if (same_type_) return read_stored(row, out);
  converting_.resize(row_elements_ * element_);
  read_stored(row, converting_.data());
  convert(converting_.data(), row_elements_, out);
}

std::vector<uint8_t> RowReader::read_all() {
  const size_t rows = static_cast<size_t>(store_.dims[0]);
  std::vector<uint8_t> out(rows * row_bytes());
  for (size_t row = 0; row < rows; ++row) read(static_cast<int64_t>(row), out.data() + row * row_bytes());
  return out;
}

// From the file's type to the memory type. Integers saturate, as HDF5's conversions do: a page value
// of 300 stored as uint16 reads 255, an index entry of 2^64 - 1 reads INT64_MAX (and is refused as
// out of range by the caller).
void RowReader::convert(const uint8_t* stored, size_t elements, uint8_t* out) const {
  const StoredType& type = store_.type;
  for (size_t i = 0; i < elements; ++i) {
    const uint8_t* at = stored + i * element_;
    if (memory_type_ == MemoryType::kFloat32) {
      uint8_t bytes[4];
      for (int b = 0; b < 4; ++b) bytes[b] = type.big_endian != kHostBigEndian ? at[3 - b] : at[b];
      std::memcpy(out + i * 4, bytes, 4);
      continue;
    }
    const uint64_t raw = load_integer(at, element_, type.big_endian, type.is_signed);
    const bool negative = type.is_signed && static_cast<int64_t>(raw) < 0;
    if (memory_type_ == MemoryType::kUint8) {
      out[i] = negative ? 0 : static_cast<uint8_t>(std::min<uint64_t>(raw, 255));
    } else {
      const auto top = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      const int64_t value = type.is_signed ? static_cast<int64_t>(raw) : static_cast<int64_t>(std::min(raw, top));
      std::memcpy(out + i * 8, &value, 8);
    }
  }
}

void RowReader::read_stored(int64_t row, uint8_t* out) {
  if (store_.layout == StoreLayout::kCompact) {
    std::memcpy(out, store_.compact_bytes.data() + static_cast<size_t>(row) * row_elements_ * element_, row_elements_ * element_);
    return;
  }
  if (store_.layout == StoreLayout::kContiguous) {
    const uint64_t row_stored = row_elements_ * element_;  // address + rows * row_stored checked not to wrap
    return read_bytes(store_.contiguous_address + static_cast<uint64_t>(row) * row_stored, row_stored, out,
                      "row " + std::to_string(row));
  }
  const int64_t chunk_row = row / static_cast<int64_t>(store_.chunk[0]);
  const bool reuse = keep_decoded_ && decoded_chunk_row_ == chunk_row;
  decoded_chunk_row_ = -1;  // until every chunk of this row decoded
  size_t index = 0;
  for (uint64_t y = 0; y < store_.dims[1]; y += store_.chunk[1]) {
    for (uint64_t x = 0; x < store_.dims[2]; x += store_.chunk[2]) {
      for (uint64_t c = 0; c < store_.dims[3]; c += store_.chunk[3], ++index) {
        const uint64_t origin[4] = {uint64_t(chunk_row) * store_.chunk[0], y, x, c};
        std::vector<uint8_t>& chunk = decoded_[keep_decoded_ ? index : 0];
        if (!reuse) decode_chunk(origin, row, chunk);
        copy_from_chunk(chunk, uint64_t(row) - origin[0], origin, out);
      }
    }
  }
  if (keep_decoded_) decoded_chunk_row_ = chunk_row;
}

void RowReader::decode_chunk(const uint64_t* offset, int64_t row, std::vector<uint8_t>& chunk) {
  const std::string where = "the chunk holding row " + std::to_string(row);
  const uint32_t mask = read_raw_chunk(offset, stored_, where);
  const std::vector<uint16_t>& filters = store_.filters;
  if (filters.size() < 32 && (mask >> filters.size()) != 0) fail("marks filters it does not have on " + where);
  // Undo the pipeline last filter first; bit f of the mask says HDF5 skipped filter f for this chunk.
  for (size_t f = filters.size(); f-- > 0;) {
    if (f < 32 && (mask & (1u << f))) continue;
    if (filters[f] == kFilterDeflate) {
      inflated_.resize(chunk_bytes_);
      if (!inflater_.inflate(stored_, inflated_.data(), chunk_bytes_)) {
        fail("holds " + where + " that does not inflate to its " + std::to_string(chunk_bytes_) +
             " bytes; the file is damaged: rebuild it with load_data");
      }
    } else if (filters[f] == kFilterBlosc) {
      decompress_blosc(where);
    } else {
      unshuffle(stored_, inflated_, element_);
    }
    std::swap(stored_, inflated_);
  }
  if (stored_.size() != chunk_bytes_) {
    fail("holds " + std::to_string(stored_.size()) + " bytes in " + where + " of " + std::to_string(chunk_bytes_) +
         "; the file is damaged: rebuild it with load_data");
  }
  chunk.swap(stored_);
}

// stored_ (one blosc buffer, as PyTables' filter writes it) into inflated_, exactly one chunk.
void RowReader::decompress_blosc(const std::string& where) {
#ifdef DEEPZINE_HAVE_BLOSC
  size_t bytes = 0;
  inflated_.resize(chunk_bytes_);
  // blosc_cbuffer_validate checks the buffer's header against its real length before blosc trusts it.
  if (blosc_cbuffer_validate(stored_.data(), stored_.size(), &bytes) != 0 || bytes != chunk_bytes_ ||
      blosc_decompress_ctx(stored_.data(), inflated_.data(), chunk_bytes_, 1) != static_cast<int>(chunk_bytes_)) {
    fail("holds " + where + " that does not decompress (blosc) to its " + std::to_string(chunk_bytes_) +
         " bytes; the file is damaged: rebuild it with load_data");
  }
#else
  fail("holds blosc data in " + where + ", and this deepzine was built without blosc");  // refused by the builder
#endif
}

// Copies the part of `chunk` (origin at `origin`, row `row_in_chunk` of it) inside the extent to out.
void RowReader::copy_from_chunk(const std::vector<uint8_t>& chunk, uint64_t row_in_chunk, const uint64_t* origin,
                                uint8_t* out) const {
  const uint64_t* dims = store_.dims;
  const uint64_t* size = store_.chunk;
  const uint64_t y_end = std::min(dims[1], origin[1] + size[1]), x_end = std::min(dims[2], origin[2] + size[2]);
  const uint64_t c_end = std::min(dims[3], origin[3] + size[3]);
  const size_t span = static_cast<size_t>(c_end - origin[3]) * element_;
  for (uint64_t y = origin[1]; y < y_end; ++y) {
    const uint8_t* src = chunk.data() + ((row_in_chunk * size[1] + (y - origin[1])) * size[2]) * size[3] * element_;
    uint8_t* dst = out + ((y * dims[2] + origin[2]) * dims[3] + origin[3]) * element_;
    if (size[3] == dims[3] && origin[3] == 0) {  // whole pixels: one copy for the run of x
      std::memcpy(dst, src, static_cast<size_t>(x_end - origin[2]) * span);
      continue;
    }
    for (uint64_t x = origin[2]; x < x_end; ++x) {
      std::memcpy(dst + (x - origin[2]) * dims[3] * element_, src + (x - origin[2]) * size[3] * element_, span);
    }
  }
}

}  // namespace deepzine::data
