// Reads single pages (rows) of a 4-D [N, H, W, C] page dataset, decoding chunked data itself.
#pragma once

#include <H5Cpp.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "inflater.h"

namespace deepzine::data {

// One dataset of rank 1 to 4 whose first dimension is rows (a page store [N, H, W, C]: format 1's
// data_<size>, format 2's pages/grey_<size> and pages/rgb_<size>; or an index list [N]: pages/kind,
// pages/row), read a row at a time into native memory of the type asked for.
//
// Why chunked data is not read with H5Dread: HDF5 1.10 trusts the sizes a damaged file gives its
// chunks. fuzz_page_file found an unfiltered chunk stored as 75 bytes for a 64-byte chunk, and a
// deflated chunk that inflates to fewer bytes than the chunk; both make H5Dread overrun its buffers.
// So each chunk's bytes are read here, from the file, at the address and length the chunk index gives
// (H5Dget_chunk_info_by_coord), bounded, and checked to lie in the file; deflate, shuffle and blosc are
// undone here and the result checked to be exactly one chunk; H5Tconvert then converts in memory of
// known size. Not H5Dread_chunk: it writes as many bytes as its own index lookup finds, whatever the
// caller was told (fuzz_page_file found an index with two entries for one chunk, answering 24 bytes
// to the size query and reading 25).
// Blosc (the original DeepZine's PyTables files) is undone with libblosc. Other filters (szip,
// fletcher32, other plugins) are refused by name. Contiguous and compact data, whose
// sizes HDF5 derives from the extent, HDF5 reads.
class RowReader {
 public:
  // memory_type: NATIVE_FLOAT (the file must hold IEEE float32, either byte order) or a native
  // integer type (the file must hold integers of at most 8 bytes). Throws std::runtime_error naming
  // `file` and `name`.
  RowReader(const H5::DataSet& ds, std::string name, std::filesystem::path file, const H5::PredType& memory_type);
  ~RowReader();
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  int64_t rows() const { return static_cast<int64_t>(dims_[0]); }
  // Bytes of one row in the memory type.
  size_t row_bytes() const { return row_elements_ * memory_type_.getSize(); }
  // Copies row `row` into out (row_bytes() bytes). Rows read in ascending order that share a chunk
  // decode it once.
  void read(int64_t row, uint8_t* out);
  // Every row, in the memory type (rows() * row_bytes() bytes).
  std::vector<uint8_t> read_all();
  // The stored bytes of the chunk at `offset` (dataset coordinates, chunked datasets only) into out;
  // returns its filter mask. Throws, naming `where`, if it is missing, larger than max_bytes or
  // outside the file.
  uint32_t read_raw_chunk(const hsize_t* offset, uint64_t max_bytes, std::vector<uint8_t>& out, const std::string& where);
  // The most bytes a chunk of this dataset may claim in the file (chunked datasets only).
  uint64_t max_stored_bytes() const { return max_stored_bytes_; }

 private:
  void open_file();
  void read_pipeline(const H5::DSetCreatPropList& plist);
  void read_stored(int64_t row, uint8_t* out);  // in the file's type
  void convert(uint8_t* buffer, size_t elements);
  void decode_chunk(const hsize_t* offset, int64_t row, std::vector<uint8_t>& chunk);
  void decompress_blosc(const std::string& where);
  void copy_from_chunk(const std::vector<uint8_t>& chunk, hsize_t row_in_chunk, const hsize_t* origin, uint8_t* out) const;
  [[noreturn]] void fail(const std::string& what) const;

  H5::DataSet ds_;
  std::string name_;
  std::filesystem::path file_;
  H5::DataType file_type_;
  H5::PredType memory_type_;
  bool same_type_ = true;  // no conversion
  size_t element_ = 1;     // bytes of one element in the file
  bool chunked_ = false;
  hsize_t dims_[4] = {1, 1, 1, 1};  // a rank below 4 is padded with ones
  hsize_t chunk_[4] = {1, 1, 1, 1};
  int rank_ = 4;
  size_t row_elements_ = 0;
  size_t chunk_bytes_ = 0;
  uint64_t max_stored_bytes_ = 0;
  std::vector<H5Z_filter_t> filters_;  // the pipeline, in the order HDF5 applied it when writing
  // Decoded chunks of one chunk row (all chunks holding rows [k * chunk_[0], (k + 1) * chunk_[0])),
  // kept only when chunks hold several rows and the chunk row is small.
  std::vector<std::vector<uint8_t>> decoded_;
  bool keep_decoded_ = false;
  int64_t decoded_chunk_row_ = -1;
  std::vector<uint8_t> stored_, inflated_, converting_;
  int file_descriptor_ = -1;  // chunked datasets: chunk bytes are read through it
  uint64_t file_bytes_ = 0;
  uint64_t base_address_ = 0;  // HDF5 addresses count from here (the user block's size)
  Inflater inflater_;
};

}  // namespace deepzine::data
