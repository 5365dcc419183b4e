#include "page_file_checks.h"

#include <hdf5.h>

#include <cstring>
#include <limits>

namespace deepzine::data::checks {
namespace fs = std::filesystem;

uint64_t file_bytes(const fs::path& file) {
  std::error_code ec;
  const uintmax_t bytes = fs::file_size(file, ec);
  return ec ? 0 : static_cast<uint64_t>(bytes);
}

uint64_t page_bound(const fs::path& file) { return file_bytes(file) / 8; }

void require_local_object(const H5::H5File& f, const std::string& name, const fs::path& file) {
  std::string path;
  size_t from = 0;
  while (from <= name.size()) {
    const size_t slash = name.find('/', from);
    path = name.substr(0, slash == std::string::npos ? name.size() : slash);
    H5L_info_t info{};
    if (H5Lexists(f.getId(), path.c_str(), H5P_DEFAULT) <= 0 || H5Lget_info(f.getId(), path.c_str(), &info, H5P_DEFAULT) < 0) {
      throw dataset_error(file, "has no " + path + "; rebuild it with load_data");
    }
    if (info.type != H5L_TYPE_HARD) {
      throw dataset_error(file, path + " is a " + (info.type == H5L_TYPE_EXTERNAL ? "link to another file" : "soft link") +
                                    "; deepzine reads pages only from the page file itself (rebuild it with load_data)");
    }
    if (slash == std::string::npos) break;
    from = slash + 1;
  }
}

void require_local_dataset(const H5::H5File& f, const std::string& name, const fs::path& file) {
  require_local_object(f, name, file);
  if (f.childObjType(name) != H5O_TYPE_DATASET) {
    throw dataset_error(file, name + " is not a dataset (a group stands where the pages belong); the file is damaged: "
                              "rebuild it with load_data");
  }
}

void require_sane_layout(const H5::DataSet& ds, const std::string& name, const fs::path& file) {
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  const H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  if (rank < 1 || rank > 4) return;  // the callers check the rank themselves
  hsize_t dims[4] = {0, 0, 0, 0};
  space.getSimpleExtentDims(dims);
  const size_t element = ds.getDataType().getSize();
  const H5D_layout_t layout = plist.getLayout();
  if (layout == H5D_CHUNKED) {
    hsize_t chunk[4] = {0, 0, 0, 0};
    if (plist.getChunk(rank, chunk) != rank) throw dataset_error(file, name + " has an unreadable chunk layout");
    // A chunk wider than its page (or larger than 64 MiB) is not something a page writer makes, and
    // HDF5 1.10 overran its own buffers on some (found by fuzz/fuzz_page_file). Along the rows it may
    // be longer than the extent: PyTables sizes the chunks of the original DeepZine's growing arrays
    // for the rows it expects (341 rows of 4x4 pages in a file of 10), and RowReader reads them.
    uint64_t bytes = element;
    for (int d = 0; d < rank; ++d) {
      if (chunk[d] == 0 || (d > 0 && chunk[d] > std::max<hsize_t>(dims[d], 1))) {
        throw dataset_error(file, name + " has chunks of " + std::to_string(chunk[d]) + " along dimension " + std::to_string(d) +
                                      ", larger than its extent " + std::to_string(dims[d]) +
                                      "; the file is damaged: rebuild it with load_data");
      }
      bytes *= chunk[d];
    }
    if (bytes > (uint64_t(64) << 20)) throw dataset_error(file, name + " has chunks of more than 64 MiB; rebuild it with load_data");
  } else if (layout == H5D_COMPACT) {
    const uint64_t needed = static_cast<uint64_t>(space.getSimpleExtentNpoints()) * element;
    if (ds.getStorageSize() < needed) {
      throw dataset_error(file, name + " stores " + std::to_string(ds.getStorageSize()) + " bytes for " + std::to_string(needed) +
                                    "; the file is damaged: rebuild it with load_data");
    }
  }
}

void require_local_sources(const H5::DataSet& ds, const std::string& name, const fs::path& file) {
  const H5::DSetCreatPropList plist = ds.getCreatePlist();
  if (plist.getLayout() != H5D_VIRTUAL) return;
  size_t count = 0;
  if (H5Pget_virtual_count(plist.getId(), &count) < 0) throw dataset_error(file, "cannot read the mappings of " + name);
  for (size_t i = 0; i < count; ++i) {
    char source[4096] = {0};
    const ssize_t n = H5Pget_virtual_filename(plist.getId(), i, source, sizeof source);
    if (n < 0 || std::string(source) != ".") {
      throw dataset_error(file, name + " maps pages from another file (" + std::string(n > 0 ? source : "?") +
                                    "); deepzine reads pages only from the page file itself (rebuild it with load_data)");
    }
  }
}

namespace {

// A scalar integer attribute, or false when absent.
bool read_int_attribute(const H5::H5File& f, const char* name, int64_t& value, const fs::path& file) {
  H5::Group root = f.openGroup("/");
  if (!root.attrExists(name)) return false;
  H5::Attribute a = root.openAttribute(name);
  // An integer of more than 8 bytes would make HDF5 allocate its declared size to convert it.
  if (a.getTypeClass() != H5T_INTEGER || a.getDataType().getSize() > 8 || a.getSpace().getSimpleExtentNpoints() != 1) {
    throw dataset_error(file, std::string("attribute ") + name + " is not one integer; the file was not written by deepzine's "
                              "load_data (rebuild it)");
  }
  a.read(H5::PredType::NATIVE_INT64, &value);
  return true;
}

}  // namespace

void check_attributes(const H5::H5File& f, const fs::path& file, int64_t pages) {
  int64_t value = 0;
  if (read_int_attribute(f, "format_version", value, file) && (value < 1 || value > 2)) {
    throw dataset_error(file, "has format_version " + std::to_string(value) +
                                  ", which this deepzine does not read (it reads 1 and 2): rebuild the file with this "
                                  "deepzine's load_data, or update deepzine");
  }
  if (read_int_attribute(f, "channels", value, file) && value != 1 && value != 3) {
    throw dataset_error(file, "says its pages have " + std::to_string(value) + " channels (1 or 3 are possible); the file is "
                              "damaged: rebuild it with load_data");
  }
  if (read_int_attribute(f, "page_count", value, file) && value != pages) {
    throw dataset_error(file, "says it holds " + std::to_string(value) + " pages but its data holds " + std::to_string(pages) +
                                  "; the file is damaged or was cut short: rebuild it with load_data");
  }
}

}  // namespace deepzine::data::checks
