// Reads single pages (rows) of a page store, or an index list, from the file with its own `pread`, at
// the places a checked page map gives (page_map.h): no HDF5 call, chunks decoded here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "inflater.h"
#include "page_map.h"

namespace deepzine::data {

// What rows are read as: page stores as uint8 or float32, index lists as int64 (or uint8).
enum class MemoryType { kUint8, kInt64, kFloat32 };

// One dataset of rank 1 to 4 whose first dimension is rows (a page store [N, H, W, C]: format 1's
// data_<size>, format 2's pages/grey_<size> and pages/rgb_<size>; or an index list [N]: pages/kind,
// pages/row), read a row at a time into native memory of the type asked for.
//
// Why not H5Dread: HDF5 1.10 trusts the sizes a damaged file gives its chunks. fuzz_page_file found an
// unfiltered chunk stored as 75 bytes for a 64-byte chunk, and a deflated chunk that inflates to fewer
// bytes than the chunk; both make H5Dread overrun its buffers; and an index with two entries for one
// chunk, for which H5Dread_chunk wrote 25 bytes after answering 24 to the size query. So each chunk's
// bytes are read here at the address and length of the map (one H5Dget_chunk_info_by_coord lookup in
// the map's child), bounded and checked to lie in the file; deflate, shuffle and blosc (the original
// DeepZine's PyTables files, with libblosc) are undone here and the result checked to be exactly one
// chunk; values are converted here (integers saturate, as HDF5's conversions do). Contiguous data is
// read at its address, compact data comes in the map.
class RowReader {
 public:
  // The store's type must suit memory_type: float32 for kFloat32, integers for the others. Throws
  // std::runtime_error naming `file` and the store.
  RowReader(StoreMap store, std::filesystem::path file, MemoryType memory_type);
  ~RowReader();
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  const StoreMap& store() const { return store_; }
  int64_t rows() const { return static_cast<int64_t>(store_.dims[0]); }
  // Bytes of one row in the memory type.
  size_t row_bytes() const { return row_elements_ * memory_bytes_; }
  // Copies row `row` into out (row_bytes() bytes). Rows read in ascending order that share a chunk
  // decode it once.
  void read(int64_t row, uint8_t* out);
  // Every row, in the memory type (rows() * row_bytes() bytes).
  std::vector<uint8_t> read_all();
  // The stored bytes of the chunk at `offset` (dataset coordinates, chunked stores only) into out;
  // returns its filter mask. Throws, naming `where`, if it is larger than max_stored_bytes() or outside
  // the file.
  uint32_t read_raw_chunk(const uint64_t* offset, std::vector<uint8_t>& out, const std::string& where);
  // The most bytes a chunk of this store may claim in the file (chunked stores only).
  uint64_t max_stored_bytes() const { return max_stored_bytes_; }

 private:
  void open_file();
  void check_type() const;
  void check_layout();
  void read_bytes(uint64_t address, uint64_t bytes, uint8_t* out, const std::string& where);
  void read_stored(int64_t row, uint8_t* out);  // in the file's type
  void convert(const uint8_t* stored, size_t elements, uint8_t* out) const;
  void decode_chunk(const uint64_t* offset, int64_t row, std::vector<uint8_t>& chunk);
  void decompress_blosc(const std::string& where);
  void copy_from_chunk(const std::vector<uint8_t>& chunk, uint64_t row_in_chunk, const uint64_t* origin, uint8_t* out) const;
  [[noreturn]] void fail(const std::string& what) const;

  StoreMap store_;
  std::filesystem::path file_;
  MemoryType memory_type_;
  size_t memory_bytes_ = 1;
  bool same_type_ = true;  // no conversion
  size_t element_ = 1;     // bytes of one element in the file
  size_t row_elements_ = 0;
  size_t chunk_bytes_ = 0;
  uint64_t max_stored_bytes_ = 0;
  // Decoded chunks of one chunk row (all chunks holding rows [k * chunk[0], (k + 1) * chunk[0])),
  // kept only when chunks hold several rows and the chunk row is small.
  std::vector<std::vector<uint8_t>> decoded_;
  bool keep_decoded_ = false;
  int64_t decoded_chunk_row_ = -1;
  std::vector<uint8_t> stored_, inflated_, converting_;
  int file_descriptor_ = -1;  // contiguous and chunked data are read through it
  uint64_t file_bytes_ = 0;
  Inflater inflater_;
};

}  // namespace deepzine::data
