#include "row_reader.h"

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
#include <stdexcept>
#include <utility>

#include "page_file_checks.h"

namespace deepzine::data {
namespace {

// PyTables' blosc filter, registered with The HDF Group: the original DeepZine wrote its pages with it.
constexpr H5Z_filter_t kBloscFilter = 32001;

// The most values one row may hold: 16x a 1024x1024 RGB page.
constexpr hsize_t kMaxRowElements = hsize_t(1) << 26;

// A chunk row kept decoded is bounded so that odd layouts (many tall chunks) cannot hold gigabytes.
constexpr size_t kMaxKeptChunkRowBytes = size_t(64) << 20;

std::string filter_label(H5Z_filter_t id, const char* name) {
  std::string label = name[0] != '\0' ? std::string(name) : "filter";
  return label + " (id " + std::to_string(id) + ")";
}

// Undoes HDF5's shuffle filter: byte b of element i was stored at b * count + i.
void unshuffle(const std::vector<uint8_t>& in, std::vector<uint8_t>& out, size_t element) {
  out.resize(in.size());
  const size_t count = in.size() / element;
  for (size_t i = 0; i < count; ++i)
    for (size_t b = 0; b < element; ++b) out[i * element + b] = in[b * count + i];
  std::copy(in.begin() + static_cast<std::ptrdiff_t>(count * element), in.end(),
            out.begin() + static_cast<std::ptrdiff_t>(count * element));  // a partial element is left as is
}

}  // namespace

uint32_t RowReader::read_raw_chunk(const hsize_t* offset, uint64_t max_bytes, std::vector<uint8_t>& out,
                                   const std::string& where) {
  unsigned mask = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t bytes = 0;
  if (H5Dget_chunk_info_by_coord(ds_.getId(), offset, &mask, &address, &bytes) < 0) {
    fail("cannot locate " + where + "; the file is damaged");
  }
  if (address == HADDR_UNDEF || bytes == 0) fail("has no data stored for " + where + " (never written); the file is damaged");
  if (bytes > max_bytes) {
    fail("claims " + std::to_string(bytes) + " stored bytes for " + where + " of " + std::to_string(chunk_bytes_) +
         " bytes; the file is damaged: rebuild it with load_data");
  }
  // HDF5 addresses count from the superblock, which a user block (HDF5's base address) puts further in.
  if (address > file_bytes_ || base_address_ > file_bytes_ - address || bytes > file_bytes_ - address - base_address_) {
    fail("places " + where + " outside the file; the file is damaged or cut short: rebuild it with load_data");
  }
  out.resize(bytes);
  size_t done = 0;
  while (done < bytes) {
    const ssize_t got = ::pread(file_descriptor_, out.data() + done, bytes - done,
                                static_cast<off_t>(base_address_ + address + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail("cannot read " + where + (got < 0 ? std::string(": ") + std::strerror(errno) : ": the file is shorter"));
    done += static_cast<size_t>(got);
  }
  return mask;
}

RowReader::~RowReader() {
  if (file_descriptor_ >= 0) ::close(file_descriptor_);
}

// The file's own descriptor for chunk bytes, its size, and HDF5's base address.
void RowReader::open_file() {
  file_descriptor_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (file_descriptor_ < 0 || ::fstat(file_descriptor_, &st) != 0) fail("cannot be opened: " + std::string(std::strerror(errno)));
  file_bytes_ = static_cast<uint64_t>(st.st_size);
  const hid_t owner = H5Iget_file_id(ds_.getId());
  const hid_t creation = owner < 0 ? H5I_INVALID_HID : H5Fget_create_plist(owner);
  hsize_t user_block = 0;
  const bool known = creation >= 0 && H5Pget_userblock(creation, &user_block) >= 0;
  if (creation >= 0) H5Pclose(creation);
  if (owner >= 0) H5Fclose(owner);
  if (!known) fail("has no readable file properties; the file is damaged");
  base_address_ = user_block;
}

void RowReader::fail(const std::string& what) const { throw checks::error(file_, name_ + " " + what); }

RowReader::RowReader(const H5::DataSet& ds, std::string name, std::filesystem::path file, const H5::PredType& memory_type)
    : ds_(ds), name_(std::move(name)), file_(std::move(file)), file_type_(ds.getDataType()), memory_type_(memory_type) {
  const H5::DataSpace space = ds_.getSpace();
  rank_ = space.getSimpleExtentNdims();
  if (rank_ < 1 || rank_ > 4) fail("has " + std::to_string(rank_) + " dimensions; rebuild the file with load_data");
  space.getSimpleExtentDims(dims_);
  const bool want_float = memory_type_.getClass() == H5T_FLOAT;
  const bool ok = want_float ? file_type_ == H5::PredType::IEEE_F32LE || file_type_ == H5::PredType::IEEE_F32BE
                             : ds_.getTypeClass() == H5T_INTEGER && file_type_.getSize() <= 8;
  if (!ok) {
    fail(std::string("does not hold ") + (want_float ? "float32 values" : "integers") +
         " like the rest of the file; rebuild it with load_data");
  }
  element_ = file_type_.getSize();
  same_type_ = file_type_ == memory_type_;
  // A row is bounded before anything is sized by it (a 1024x1024x3 page has 3 M elements).
  if (dims_[1] > kMaxRowElements || dims_[2] > kMaxRowElements / std::max<hsize_t>(dims_[1], 1) ||
      dims_[3] > kMaxRowElements / std::max<hsize_t>(dims_[1] * dims_[2], 1)) {
    fail("has rows of more than " + std::to_string(kMaxRowElements) + " values; the file is damaged");
  }
  row_elements_ = static_cast<size_t>(dims_[1] * dims_[2] * dims_[3]);
  checks::require_sane_layout(ds_, name_, file_);  // chunks no larger than the extent nor 64 MiB
  const H5::DSetCreatPropList plist = ds_.getCreatePlist();
  const H5D_layout_t layout = plist.getLayout();
  if (layout == H5D_VIRTUAL) {
    fail("is a virtual dataset outside deepzine's page index; rebuild the file with load_data");
  }
  chunked_ = layout == H5D_CHUNKED;
  if (!chunked_) return;
  open_file();
  plist.getChunk(rank_, chunk_);
  chunk_bytes_ = static_cast<size_t>(chunk_[0] * chunk_[1] * chunk_[2] * chunk_[3]) * element_;
  read_pipeline(plist);
  // The stored size is the file's claim: unfiltered, at most the chunk (a shorter one fails the size
  // check after decoding); compressed, at most zlib's bound.
  const bool compressed = std::any_of(filters_.begin(), filters_.end(), [](H5Z_filter_t id) { return id != H5Z_FILTER_SHUFFLE; });
  max_stored_bytes_ = compressed ? compressBound(static_cast<uLong>(chunk_bytes_)) + 64 : chunk_bytes_;
  const size_t per_row = static_cast<size_t>(((dims_[1] + chunk_[1] - 1) / chunk_[1]) *
                                             ((dims_[2] + chunk_[2] - 1) / chunk_[2]) *
                                             ((dims_[3] + chunk_[3] - 1) / chunk_[3]));
  keep_decoded_ = chunk_[0] > 1 && per_row * chunk_bytes_ <= kMaxKeptChunkRowBytes;
  decoded_.resize(keep_decoded_ ? per_row : 1);
}

// The filters of a chunked dataset, in the order HDF5 applied them: only those this reader undoes.
void RowReader::read_pipeline(const H5::DSetCreatPropList& plist) {
  for (int f = 0; f < plist.getNfilters(); ++f) {
    unsigned int flags = 0, info = 0;
    size_t values = 0;
    char fname[64] = {0};
    const H5Z_filter_t id = plist.getFilter(f, flags, values, nullptr, sizeof fname, fname, info);
#ifndef DEEPZINE_HAVE_BLOSC
    if (id == kBloscFilter) {
      fail("is compressed with blosc (the original DeepZine's PyTables files), and this deepzine was built without "
           "it: install libblosc-dev and rebuild deepzine, or rebuild the file with load_data");
    }
#endif
    if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE && id != kBloscFilter) {
      fail("is stored with the HDF5 filter " + filter_label(id, fname) +
           ", which deepzine does not read (it reads deflate, shuffle and blosc); rebuild the file with load_data");
    }
    filters_.push_back(id);
  }
}

void RowReader::read(int64_t row, uint8_t* out) {
  if (row < 0 || static_cast<hsize_t>(row) >= dims_[0]) {
    fail("has no row " + std::to_string(row) + " (it has " + std::to_string(dims_[0]) + ")");
  }
  if (!chunked_) {  // HDF5 reads and converts
    hsize_t count[4] = {1, dims_[1], dims_[2], dims_[3]}, start[4] = {hsize_t(row), 0, 0, 0};
    H5::DataSpace mem(rank_, count), space = ds_.getSpace();
    space.selectHyperslab(H5S_SELECT_SET, count, start);
    ds_.read(out, memory_type_, mem, space);
    return;
  }
  if (same_type_) return read_stored(row, out);
  converting_.resize(row_elements_ * std::max(element_, memory_type_.getSize()));
  read_stored(row, converting_.data());
  convert(converting_.data(), row_elements_);
  std::memcpy(out, converting_.data(), row_bytes());
}

std::vector<uint8_t> RowReader::read_all() {
  const size_t rows = static_cast<size_t>(dims_[0]);
  std::vector<uint8_t> out(rows * row_elements_ * std::max(element_, memory_type_.getSize()));
  if (rows == 0) return out;
  if (!chunked_) {
    ds_.read(out.data(), memory_type_);
  } else {
    for (size_t row = 0; row < rows; ++row) read_stored(static_cast<int64_t>(row), out.data() + row * row_elements_ * element_);
    if (!same_type_) convert(out.data(), rows * row_elements_);
  }
  out.resize(rows * row_bytes());
  return out;
}

// In place, from the file's type to the memory type, in memory this reader sized for the larger.
void RowReader::convert(uint8_t* buffer, size_t elements) {
  if (H5Tconvert(file_type_.getId(), memory_type_.getId(), elements, buffer, nullptr, H5P_DEFAULT) < 0) {
    fail("holds values HDF5 cannot convert; rebuild the file with load_data");
  }
}

void RowReader::read_stored(int64_t row, uint8_t* out) {
  const int64_t chunk_row = row / static_cast<int64_t>(chunk_[0]);
  const bool reuse = keep_decoded_ && decoded_chunk_row_ == chunk_row;
  decoded_chunk_row_ = -1;  // until every chunk of this row decoded
  size_t index = 0;
  for (hsize_t y = 0; y < dims_[1]; y += chunk_[1]) {
    for (hsize_t x = 0; x < dims_[2]; x += chunk_[2]) {
      for (hsize_t c = 0; c < dims_[3]; c += chunk_[3], ++index) {
        const hsize_t origin[4] = {hsize_t(chunk_row) * chunk_[0], y, x, c};
        std::vector<uint8_t>& chunk = decoded_[keep_decoded_ ? index : 0];
        if (!reuse) decode_chunk(origin, row, chunk);
        copy_from_chunk(chunk, hsize_t(row) - origin[0], origin, out);
      }
    }
  }
  if (keep_decoded_) decoded_chunk_row_ = chunk_row;
}

void RowReader::decode_chunk(const hsize_t* offset, int64_t row, std::vector<uint8_t>& chunk) {
  const std::string where = "the chunk holding row " + std::to_string(row);
  const uint32_t mask = read_raw_chunk(offset, max_stored_bytes_, stored_, where);
  if (filters_.size() < 32 && (mask >> filters_.size()) != 0) fail("marks filters it does not have on " + where);
  // Undo the pipeline last filter first; bit f of the mask says HDF5 skipped filter f for this chunk.
  for (size_t f = filters_.size(); f-- > 0;) {
    if (mask & (1u << f)) continue;
    if (filters_[f] == H5Z_FILTER_DEFLATE) {
      inflated_.resize(chunk_bytes_);
      if (!inflater_.inflate(stored_, inflated_.data(), chunk_bytes_)) {
        fail("holds " + where + " that does not inflate to its " + std::to_string(chunk_bytes_) +
             " bytes; the file is damaged: rebuild it with load_data");
      }
    } else if (filters_[f] == kBloscFilter) {
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
         " bytes; the file is damaged");
  }
#else
  fail("holds blosc data in " + where + ", and this deepzine was built without blosc");  // refused when opened
#endif
}

// Copies the part of `chunk` (origin at `origin`, row `row_in_chunk` of it) inside the extent to out.
void RowReader::copy_from_chunk(const std::vector<uint8_t>& chunk, hsize_t row_in_chunk, const hsize_t* origin,
                                uint8_t* out) const {
  const hsize_t y_end = std::min(dims_[1], origin[1] + chunk_[1]), x_end = std::min(dims_[2], origin[2] + chunk_[2]);
  const hsize_t c_end = std::min(dims_[3], origin[3] + chunk_[3]);
  const size_t span = static_cast<size_t>(c_end - origin[3]) * element_;
  for (hsize_t y = origin[1]; y < y_end; ++y) {
    const uint8_t* src = chunk.data() + ((row_in_chunk * chunk_[1] + (y - origin[1])) * chunk_[2]) * chunk_[3] * element_;
    uint8_t* dst = out + ((y * dims_[2] + origin[2]) * dims_[3] + origin[3]) * element_;
    if (chunk_[3] == dims_[3] && origin[3] == 0) {  // whole pixels: one copy for the run of x
      std::memcpy(dst, src, static_cast<size_t>(x_end - origin[2]) * span);
      continue;
    }
    for (hsize_t x = origin[2]; x < x_end; ++x) {
      std::memcpy(dst + (x - origin[2]) * dims_[3] * element_, src + (x - origin[2]) * chunk_[3] * element_, span);
    }
  }
}

}  // namespace deepzine::data
