#include "page_map_builder.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "deepzine/pages/page_file.h"
#include "chunk_index.h"
#include "page_file_checks.h"
#include "row_reader.h"

namespace deepzine::data {
namespace {


std::string filter_label(H5Z_filter_t id, const char* name) {
  std::string label = name[0] != '\0' ? std::string(name) : "filter";
  return label + " (id " + std::to_string(id) + ")";
}

// IEEE float32 (either byte order) or a plain integer of 1, 2, 4 or 8 bytes. Anything else (a float
// of another size: fuzz_page_file found one declaring 4 GB elements; integers with padding bits) is
// refused by name.
StoredType stored_type(const H5::DataSet& ds, const std::string& name, const std::filesystem::path& file) {
  const H5::DataType type = ds.getDataType();
  const H5T_class_t cls = ds.getTypeClass();
  StoredType out;
  if (cls == H5T_FLOAT && (type == H5::PredType::IEEE_F32LE || type == H5::PredType::IEEE_F32BE)) {
    out.bytes = 4, out.is_float = true, out.big_endian = type == H5::PredType::IEEE_F32BE;
    return out;
  }
  const size_t bytes = type.getSize();
  const hid_t id = type.getId();
  if (cls != H5T_INTEGER || (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8) || H5Tget_precision(id) != 8 * bytes ||
      H5Tget_offset(id) != 0) {
    throw dataset_error(file, name + " holds " + (cls == H5T_FLOAT ? std::to_string(bytes) + "-byte floats" : "values of another type") +
                                  ", not uint8 pages, float32 values or integers; rebuild it with load_data");
  }
  const H5T_order_t order = H5Tget_order(id);
  const H5T_sign_t sign = H5Tget_sign(id);
  if ((order != H5T_ORDER_LE && order != H5T_ORDER_BE) || sign == H5T_SGN_ERROR) {
    throw dataset_error(file, name + " holds integers of an unknown byte order; rebuild it with load_data");
  }
  out.bytes = static_cast<uint8_t>(bytes), out.big_endian = order == H5T_ORDER_BE, out.is_signed = sign == H5T_SGN_2;
  return out;
}

// HDF5's base address: addresses count from the superblock, which a user block puts further in.
uint64_t base_address(const H5::DataSet& ds, const std::string& name, const std::filesystem::path& file) {
  const hid_t owner = H5Iget_file_id(ds.getId());
  const hid_t creation = owner < 0 ? H5I_INVALID_HID : H5Fget_create_plist(owner);
  hsize_t user_block = 0;
  const bool known = creation >= 0 && H5Pget_userblock(creation, &user_block) >= 0;
  if (creation >= 0) H5Pclose(creation);
  if (owner >= 0) H5Fclose(owner);
  if (!known) throw dataset_error(file, name + " has no readable file properties; the file is damaged: rebuild it with load_data");
  return user_block;
}

// The filters of a chunked dataset, in the order HDF5 applied them: only those RowReader undoes.
void read_pipeline(const H5::DSetCreatPropList& plist, StoreMap& store, const std::filesystem::path& file) {
  for (int f = 0; f < plist.getNfilters(); ++f) {
    unsigned int flags = 0, info = 0;
    size_t values = 0;
    char fname[64] = {0};
    const H5Z_filter_t id = plist.getFilter(f, flags, values, nullptr, sizeof fname, fname, info);
#ifndef DEEPZINE_HAVE_BLOSC
    if (id == kFilterBlosc) {
      throw dataset_error(file, store.name + " is compressed with blosc (the original DeepZine's PyTables files), and this "
                                "deepzine was built without it: install libblosc-dev and rebuild deepzine, or rebuild the "
                                "file with load_data");
    }
#endif
    if (id != kFilterDeflate && id != kFilterShuffle && id != kFilterBlosc) {
      throw dataset_error(file, store.name + " is stored with the HDF5 filter " + filter_label(id, fname) +
                                    ", which deepzine does not read (it reads deflate, shuffle and blosc); rebuild the file "
                                    "with load_data");
    }
    store.filters.push_back(static_cast<uint16_t>(id));
  }
}

// Where the dataset's chunk index can be read: its object header, the file's encoding of addresses.
// False where this HDF5 gives no object address (1.12 and later: HDF5 locates the chunks).
bool index_source(const H5::DataSet& ds, const StoreMap& store, int fd, const std::filesystem::path& file,
                  ChunkIndexSource& source) {
#if H5_VERSION_GE(1, 12, 0)
  (void)ds, (void)store, (void)fd, (void)file, (void)source;
  return false;
#else
  H5O_info_t info{};
  const hid_t owner = H5Iget_file_id(ds.getId());
  const hid_t creation = owner < 0 ? H5I_INVALID_HID : H5Fget_create_plist(owner);
  size_t address_bytes = 0, length_bytes = 0;
  const bool sized = creation >= 0 && H5Pget_sizes(creation, &address_bytes, &length_bytes) >= 0;
  if (creation >= 0) H5Pclose(creation);
  if (owner >= 0) H5Fclose(owner);
  if (!sized || H5Oget_info2(ds.getId(), &info, H5O_INFO_BASIC) < 0 || info.addr == HADDR_UNDEF) {
    throw dataset_error(file, store.name + " has no readable object header; the file is damaged: rebuild it with load_data");
  }
  source.file_descriptor = fd;
  source.file_bytes = checks::file_bytes(file);
  source.base_address = store.base_address;
  source.header_address = info.addr;
  source.address_bytes = static_cast<unsigned>(address_bytes);
  source.length_bytes = static_cast<unsigned>(length_bytes);
  return true;
#endif
}

// Each chunk located by HDF5, one lookup each (a walk of the index from its start, every time).
void locate_chunks_with_hdf5(const H5::DataSet& ds, StoreMap& store, const std::filesystem::path& file) {
  uint64_t coordinate[4] = {0, 0, 0, 0};  // in chunks, the last dimension fastest
  for (ChunkLocation& chunk : store.chunks) {
    hsize_t offset[4];
    for (int d = 0; d < 4; ++d) offset[d] = coordinate[d] * store.chunk[d];
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t bytes = 0;
    if (H5Dget_chunk_info_by_coord(ds.getId(), offset, &mask, &address, &bytes) < 0) {
      throw dataset_error(file, store.name + " cannot locate the chunk holding row " + std::to_string(offset[0]) +
                                    "; the file is damaged: rebuild it with load_data");
    }
    chunk = address == HADDR_UNDEF ? ChunkLocation{} : ChunkLocation{address, bytes, mask};
    for (int d = 3; d >= 0 && ++coordinate[d] == store.grid(d); --d) coordinate[d] = 0;
  }
}

// Every chunk of the grid, row-major. Each chunk holds at least one stored byte, so a grid of more
// chunks than the file has bytes is refused before anything is sized by it; a chunk never written is
// refused by its row.
void locate_chunks(const H5::DataSet& ds, StoreMap& store, const std::filesystem::path& file, ChunkLookup lookup) {
  const uint64_t file_bytes = std::max<uint64_t>(checks::file_bytes(file), 1);
  uint64_t count = 1;
  for (int d = 0; d < 4; ++d) {
    if (__builtin_mul_overflow(count, store.grid(d), &count) || count > file_bytes) {
      throw dataset_error(file, store.name + " declares more chunks than a file of its size can hold; the file is damaged: "
                                             "rebuild it with load_data");
    }
  }
  store.chunks.assign(count, ChunkLocation{});
  bool located = false;
  if (lookup == ChunkLookup::kIndexFirst) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw dataset_error(file, "cannot be opened: " + std::string(std::strerror(errno)));
    try {
      ChunkIndexSource source;
      located = index_source(ds, store, fd, file, source) && read_btree_chunk_index(source, store, file);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }
  if (!located) locate_chunks_with_hdf5(ds, store, file);
  for (size_t i = 0; i < store.chunks.size(); ++i) {
    if (store.chunks[i].bytes == 0) {
      uint64_t row = i;
      for (int d = 3; d >= 1; --d) row /= store.grid(d);
      throw dataset_error(file, store.name + " has no data stored for the chunk holding row " + std::to_string(row * store.chunk[0]) +
                                    " (never written); the file is damaged: rebuild it with load_data");
    }
  }
}

}  // namespace

StoreMap describe_store(const H5::DataSet& ds, const std::string& name, const std::filesystem::path& file,
                        ChunkLookup lookup) {
  StoreMap store;
  store.name = name;
  const H5::DataSpace space = ds.getSpace();
  store.rank = space.getSimpleExtentNdims();
  if (store.rank < 1 || store.rank > 4) {
    throw dataset_error(file, name + " has " + std::to_string(store.rank) + " dimensions; rebuild the file with load_data");
  }
  hsize_t dims[4] = {1, 1, 1, 1};
  space.getSimpleExtentDims(dims);
  std::copy(dims, dims + 4, store.dims);
  store.type = stored_type(ds, name, file);
  checks::require_sane_layout(ds, name, file);  // chunks no larger than the extent nor 64 MiB
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  const H5D_layout_t layout = plist.getLayout();
  store.base_address = base_address(ds, name, file);
  uint64_t elements = 1, bytes = 0;
  for (uint64_t d : store.dims) elements = __builtin_mul_overflow(elements, d, &elements) ? ~uint64_t(0) : elements;
  if (__builtin_mul_overflow(elements, uint64_t(store.type.bytes), &bytes)) bytes = ~uint64_t(0);
  if (layout == H5D_CHUNKED) {
    store.layout = StoreLayout::kChunked;
    hsize_t chunk[4] = {1, 1, 1, 1};
    plist.getChunk(store.rank, chunk);
    std::copy(chunk, chunk + 4, store.chunk);
    read_pipeline(plist, store, file);
    locate_chunks(ds, store, file, lookup);
  } else if (layout == H5D_CONTIGUOUS) {
    store.layout = StoreLayout::kContiguous;
    if (bytes > checks::file_bytes(file)) {
      throw dataset_error(file, name + " declares " + std::to_string(bytes) + " bytes, more than the file holds; the file is "
                                        "damaged: rebuild it with load_data");
    }
    const haddr_t address = bytes == 0 ? 0 : H5Dget_offset(ds.getId());
    if (address == HADDR_UNDEF) throw dataset_error(file, name + " has no data stored (never written); the file is damaged: rebuild it with load_data");
    store.contiguous_address = address;
  } else if (layout == H5D_COMPACT) {
    store.layout = StoreLayout::kCompact;  // require_sane_layout checked that its bytes cover the extent
    if (bytes > (uint64_t(1) << 20)) throw dataset_error(file, name + " is compact data of more than 1 MiB; the file is damaged: rebuild it with load_data");
    store.compact_bytes.resize(static_cast<size_t>(bytes));
    if (bytes > 0) ds.read(store.compact_bytes.data(), ds.getDataType());
  } else {
    throw dataset_error(file, name + " is a virtual dataset outside deepzine's page index; rebuild the file with load_data");
  }
  return store;
}

namespace {

// A one-dimensional integer dataset of exactly `expected` entries (pages/kind, pages/row).
std::vector<uint8_t> read_index(const H5::H5File& f, const std::string& name, uint64_t expected, MemoryType type,
                                const std::filesystem::path& file) {
  checks::require_local_dataset(f, name, file);
  H5::DataSet ds = f.openDataSet(name);
  if (ds.getTypeClass() != H5T_INTEGER || ds.getSpace().getSimpleExtentNdims() != 1) {
    throw dataset_error(file, name + " is not a list of integers; the file is damaged: rebuild it with load_data");
  }
  hsize_t n = 0;
  ds.getSpace().getSimpleExtentDims(&n);
  if (n != expected) {
    throw dataset_error(file, name + " has " + std::to_string(n) + " entries for " + std::to_string(expected) +
                                  " pages; the file is damaged: rebuild it with load_data");
  }
  // Read by RowReader, not H5Dread: the index is chunked and deflated, and HDF5 trusts a damaged
  // chunk's sizes (row_reader.h).
  return RowReader(describe_store(ds, name, file), file, type).read_all();
}

// The data_<size> levels of an open page file.
std::vector<int> resolutions_in(const H5::H5File& f) {
  std::vector<int> sizes;
  for (hsize_t i = 0; i < f.getNumObjs(); ++i) {
    std::string name = f.getObjnameByIdx(i);
    // data_<size> with a power-of-two size the schedule can train (other names are not levels).
    if (name.rfind("data_", 0) == 0 && name.size() <= 10 && name.find_first_not_of("0123456789", 5) == std::string::npos &&
        name.size() > 5) {
      const int size = std::stoi(name.substr(5));
      if (size >= 4 && size <= (1 << 14) && (size & (size - 1)) == 0) sizes.push_back(size);
    }
  }
  std::sort(sizes.begin(), sizes.end());
  return sizes;
}

// The number of pages, the same in every level data_<size>; each level checked to be a local 4-D
// dataset whose declared page count the file's size can hold, and the root attributes to agree.
int64_t checked_page_count(const H5::H5File& f, const std::vector<int>& sizes, const std::filesystem::path& file) {
  const uint64_t bound = checks::page_bound(file);
  int64_t pages = -1;
  for (int size : sizes) {
    const std::string name = pages::view_name(size);
    checks::require_local_dataset(f, name, file);
    H5::DataSet view = f.openDataSet(name);
    H5::DataSpace space = view.getSpace();
    hsize_t dims[4] = {0, 0, 0, 0};
    if (space.getSimpleExtentNdims() != 4) throw dataset_error(file, name + " is not a 4-D [N, H, W, C] array");
    checks::require_sane_layout(view, name, file);
    space.getSimpleExtentDims(dims);
    if (dims[0] > bound) {
      throw dataset_error(file, name + " declares " + std::to_string(dims[0]) + " pages, more than a file of its size can "
                                "hold; the file is damaged: rebuild it with load_data");
    }
    if (pages >= 0 && static_cast<int64_t>(dims[0]) != pages) {
      throw dataset_error(file, name + " has " + std::to_string(dims[0]) + " pages but " + pages::view_name(sizes.front()) +
                                    " has " + std::to_string(pages) + "; every level must hold the same pages (rebuild it "
                                    "with load_data)");
    }
    pages = static_cast<int64_t>(dims[0]);
  }
  checks::check_attributes(f, file, pages);
  return pages;
}

// The page count and (format 2) each page's kind and row, read and checked so that a damaged index
// stops the train stage before it starts; and the colour counts. A file without the index (format 1,
// the original's) counts its pages by the first level's channels.
void read_checked_index(const H5::H5File& f, PageMap& map, std::vector<uint8_t>& kinds, const std::filesystem::path& file) {
  map.pages = checked_page_count(f, map.resolutions, file);
  const uint64_t pages = static_cast<uint64_t>(map.pages);
  if (f.nameExists("pages")) {
    kinds = read_index(f, pages::kKindName, pages, MemoryType::kUint8, file);
    const std::vector<uint8_t> rows = read_index(f, pages::kRowName, pages, MemoryType::kInt64, file);
    map.page_row.resize(pages);
    if (pages > 0) std::memcpy(map.page_row.data(), rows.data(), pages * sizeof(int64_t));
    for (uint8_t kind : kinds) (kind == 1 ? map.colours.grey : map.colours.colour) += 1;
    return;
  }
  hsize_t dims[4] = {0, 0, 0, 0};
  f.openDataSet(pages::view_name(map.resolutions.front())).getSpace().getSimpleExtentDims(dims);
  (dims[3] == 1 ? map.colours.grey : map.colours.colour) = map.pages;
}

// data_<size> itself: its shape and element type, which its stores must share.
void check_view(const H5::H5File& f, PageMap& map, const std::filesystem::path& file) {
  const std::string name = pages::view_name(map.resolution);
  const H5::DataSet view = f.openDataSet(name);
  checks::require_local_sources(view, name, file);
  hsize_t dims[4] = {0, 0, 0, 0};
  view.getSpace().getSimpleExtentDims(dims);
  const hsize_t size = static_cast<hsize_t>(map.resolution);
  if (dims[1] != size || dims[2] != size || (dims[3] != 1 && dims[3] != 3)) {
    throw dataset_error(file, name + " has shape [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " +
                                  std::to_string(dims[2]) + ", " + std::to_string(dims[3]) + "], expected [N, size, size, 1 or 3]");
  }
  map.channels = static_cast<int>(dims[3]);
  const H5T_class_t cls = view.getTypeClass();
  const H5::DataType type = view.getDataType();
  // Exactly IEEE float32 (the original DeepZine's, values already in [-1, 1]) or one-byte integers.
  if (cls == H5T_FLOAT && (type == H5::PredType::IEEE_F32LE || type == H5::PredType::IEEE_F32BE)) {
    map.is_float = true;
  } else if (cls != H5T_INTEGER || type.getSize() != 1) {
    throw dataset_error(file, name + " must hold uint8 pages or float32 values in [-1, 1] (it holds " +
                                  (cls == H5T_FLOAT ? std::to_string(type.getSize()) + "-byte floats" : "another type") +
                                  "); rebuild it with load_data");
  }
}

// One page store of the level: checked to hold pages of its kind in the level's element type.
StoreMap describe_page_store(const H5::DataSet& ds, const std::string& name, const PageMap& map, int channels,
                             const std::filesystem::path& file) {
  StoreMap store = describe_store(ds, name, file);
  store.channels = channels;
  const uint64_t size = static_cast<uint64_t>(map.resolution);
  if (store.rank != 4 || store.dims[1] != size || store.dims[2] != size || store.dims[3] != uint64_t(channels)) {
    throw dataset_error(file, name + " does not hold pages of " + std::to_string(size) + "x" + std::to_string(size) + "x" +
                                  std::to_string(channels) + "; the file is damaged, rebuild it with load_data");
  }
  if (store.type.is_float != map.is_float || (!map.is_float && store.type.bytes != 1)) {
    throw dataset_error(file, name + " does not hold " + (map.is_float ? "float32 values" : "uint8 pages") +
                                  " like the rest of the file; the file is damaged, rebuild it with load_data");
  }
  return store;
}

// Format 2: the level's grey and RGB stores, each page's store checked against its kind and its row
// against the store's extent.
void map_stores(const H5::H5File& f, PageMap& map, const std::vector<uint8_t>& kinds, const std::filesystem::path& file) {
  const size_t n = kinds.size();
  for (size_t i = 0; i < n; ++i) {
    if ((kinds[i] != 1 && kinds[i] != 3) || (kinds[i] == 3 && map.channels != 3)) {
      throw dataset_error(file, "pages/kind of page " + std::to_string(i) + " is " + std::to_string(kinds[i]) +
                                    " (expected 1 or 3); the file is damaged, rebuild it with load_data");
    }
  }
  map.page_store.resize(n);
  bool found[4] = {false, false, false, false};
  for (int k : {1, 3}) {
    const std::string name = pages::store_name(map.resolution, k);
    if (!f.nameExists(name)) continue;
    checks::require_local_dataset(f, name, file);
    StoreMap store = describe_page_store(f.openDataSet(name), name, map, k, file);
    for (size_t i = 0; i < n; ++i) {
      if (kinds[i] != k) continue;
      if (map.page_row[i] < 0 || static_cast<uint64_t>(map.page_row[i]) >= store.dims[0]) {
        throw dataset_error(file, "pages/row points page " + std::to_string(i) + " outside " + name);
      }
      map.page_store[i] = static_cast<uint8_t>(map.stores.size());
    }
    map.stores.push_back(std::move(store));
    found[k] = true;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!found[kinds[i]]) throw dataset_error(file, "has no " + pages::store_name(map.resolution, kinds[i]) + " for page " + std::to_string(i));
  }
}

}  // namespace

PageMap build_page_map(const std::filesystem::path& file, int resolution) {
  H5::Exception::dontPrint();
  PageMap map;
  std::unique_ptr<H5::H5File> f;
  try {
    f = std::make_unique<H5::H5File>(file.string(), H5F_ACC_RDONLY);
    map.resolutions = resolutions_in(*f);
  } catch (const H5::Exception& e) {
    throw dataset_error(file, "cannot open as HDF5 (" + e.getDetailMsg() + "); run load_data to create it");
  }
  if (map.resolutions.empty()) return map;
  std::vector<uint8_t> kinds;
  try {
    read_checked_index(*f, map, kinds, file);
  } catch (const H5::Exception& e) {
    throw dataset_error(file, "cannot read its levels or page index (" + e.getDetailMsg() + "); rebuild it with load_data");
  }
  const auto& sizes = map.resolutions;
  if (resolution <= 0 || std::find(sizes.begin(), sizes.end(), resolution) == sizes.end()) {
    map.page_row.clear();  // no level asked for: the levels and colours alone
    return map;
  }
  map.resolution = resolution;
  const std::string name = pages::view_name(resolution);
  try {
    check_view(*f, map, file);
    if (kinds.empty() && !f->nameExists("pages")) {  // format 1: the view is the store
      map.stores.push_back(describe_page_store(f->openDataSet(name), name, map, map.channels, file));
    } else {
      map_stores(*f, map, kinds, file);
    }
  } catch (const H5::Exception& e) {
    // Every HDF5 failure (a missing dataset, a group where a dataset belongs, a link loop, a damaged
    // chunk index) is an error naming the file, never an uncaught exception.
    throw dataset_error(file, "cannot read " + name + " (" + e.getDetailMsg() + "); rebuild the file with load_data");
  }
  return map;
}

}  // namespace deepzine::data
