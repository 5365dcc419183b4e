#include "deepzine/pages/dataset_writer.h"

#include "deepzine/pages/page_chunks.h"
#include "deepzine/probe/hdf5_probe.h"

#include <H5Cpp.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace deepzine::pages {
namespace {

H5::DataSet create_store(H5::H5File& file, int size, int channels) {
  hsize_t dims[4] = {0, hsize_t(size), hsize_t(size), hsize_t(channels)};
  hsize_t maxdims[4] = {H5S_UNLIMITED, hsize_t(size), hsize_t(size), hsize_t(channels)};
  H5::DataSpace space(4, dims, maxdims);
  H5::DSetCreatPropList props;
  // One page per chunk: a shuffled reader touches exactly one chunk per page.
  hsize_t chunk[4] = {1, hsize_t(size), hsize_t(size), hsize_t(channels)};
  props.setChunk(4, chunk);
  props.setDeflate(kDeflateLevel);
  return file.createDataSet(store_name(size, channels), H5::PredType::NATIVE_UINT8, space, props);
}

template <class T>
void write_attr(H5::H5Object& obj, const std::string& name, const H5::PredType& type, T value) {
  H5::Attribute a = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  a.write(type, &value);
}

void write_string_attr(H5::H5Object& obj, const std::string& name, const std::string& value) {
  H5::StrType type(H5::PredType::C_S1, value.size() + 1);
  H5::Attribute a = obj.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  a.write(type, value.c_str());
}

std::vector<hsize_t> dims_of(const H5::DataSet& ds) {
  H5::DataSpace space = ds.getSpace();
  std::vector<hsize_t> dims(space.getSimpleExtentNdims());
  space.getSimpleExtentDims(dims.data());
  return dims;
}

constexpr size_t kRowConversionBufferBytes = 4096;

void append_row(H5::DataSet& ds, int64_t row, const void* data, const H5::DataType& type) {
  std::vector<hsize_t> dims = dims_of(ds);
  const int rank = static_cast<int>(dims.size());
  dims[0] = static_cast<hsize_t>(row + 1);
  ds.extend(dims.data());
  H5::DataSpace file_space = ds.getSpace();
  std::vector<hsize_t> start(rank, 0), count(dims);
  start[0] = static_cast<hsize_t>(row);
  count[0] = 1;
  file_space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
  H5::DataSpace mem_space(rank, count.data());
  // HDF5's default type-conversion buffer is 1 MiB, allocated and zero-filled (page faults and all)
  // by every write that converts with a background buffer, as variable-length strings do: 1 MiB of
  // memset per page name, 16% of load_data's CPU at 256 (2% now) (docs/BENCHMARKS.md). A row needs a few bytes.
  H5::DSetMemXferPropList transfer;
  transfer.setBuffer(kRowConversionBufferBytes, nullptr, nullptr);
  ds.write(data, type, mem_space, file_space, transfer);
}

template <class T>
void write_index(H5::H5File& file, const char* name, const H5::PredType& type, const std::vector<T>& values) {
  hsize_t n = values.size(), chunk = std::clamp<hsize_t>(n, 1, 65536);
  H5::DSetCreatPropList props;
  props.setChunk(1, &chunk);
  props.setDeflate(kDeflateLevel);
  H5::DataSet ds = file.createDataSet(name, type, H5::DataSpace(1, &n), props);
  if (n > 0) ds.write(values.data(), type);
}

// Writes one deflated page chunk at `row` of a one-page-per-chunk store, growing it to hold the row.
void write_page_chunk(H5::DataSet& store, int64_t row, const std::vector<uint8_t>& chunk) {
  std::vector<hsize_t> dims = dims_of(store);
  if (dims[0] < static_cast<hsize_t>(row + 1)) {
    dims[0] = static_cast<hsize_t>(row + 1);
    store.extend(dims.data());
  }
  hsize_t offset[4] = {hsize_t(row), 0, 0, 0};
  if (H5Dwrite_chunk(store.getId(), H5P_DEFAULT, 0, offset, chunk.size(), chunk.data()) < 0) {
    throw std::runtime_error("writing a page chunk failed (disk full?)");
  }
}

}  // namespace

struct DatasetWriter::Impl {
  H5::H5File file;
  PageLayout layout;
  std::vector<int> sizes;             // max_size, max_size/2, ..., 4 (the order of a pyramid)
  std::vector<H5::DataSet> grey, rgb;  // the stores, per size (rgb empty when channels is 1)
  H5::DataSet names;
  std::vector<uint8_t> kind;  // per page: 1 or 3 stored channels
  int64_t grey_rows = 0, rgb_rows = 0;
  int64_t runs = 0;
  bool closed = false;
  std::vector<std::pair<std::string, std::string>> notes;

  H5::DataSet& store(size_t level, int k) { return k == 1 ? grey[level] : rgb[level]; }
  int64_t& store_rows(int k) { return k == 1 ? grey_rows : rgb_rows; }

  // The kind a page is stored as, given the kind it could be stored as; records it.
  int push_kind(int could_be) {
    int k = could_be;
    const bool new_run = kind.empty() || kind.back() != k;
    if (new_run && k == 1 && layout.channels == 3 && runs >= layout.max_runs) k = 3;
    if (kind.empty() || kind.back() != k) ++runs;
    kind.push_back(static_cast<uint8_t>(k));
    return k;
  }

  // data_<size>: a virtual dataset with one mapping per run of same-kind pages (one per channel for
  // grey runs shown as RGB), so h5py users see the pages as they were rendered.
  // rows: each page's row in its store (the pages/row index), so a run's source starts at rows[start].
  void write_view(size_t level, const std::vector<int64_t>& rows) {
    const hsize_t s = static_cast<hsize_t>(sizes[level]), c = static_cast<hsize_t>(layout.channels);
    const hsize_t n = kind.size();
    hsize_t dims[4] = {n, s, s, c};
    H5::DataSpace view_space(4, dims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_VIRTUAL);
    for (size_t start = 0; start < n;) {
      const int k = kind[start];
      size_t end = start;
      while (end < n && kind[end] == k) ++end;
      const hsize_t len = end - start;
      H5::DataSpace source_space(4, dims_of(store(level, k)).data());
      hsize_t src_start[4] = {hsize_t(rows[start]), 0, 0, 0}, src_count[4] = {len, s, s, hsize_t(k)};
      source_space.selectHyperslab(H5S_SELECT_SET, src_count, src_start);
      // A grey run is mapped into every channel of the view; an RGB run (or a grey file) maps once.
      const hsize_t copies = (k == 1) ? c : 1;
      for (hsize_t ch = 0; ch < copies; ++ch) {
        H5::DataSpace view_sel(4, dims);
        hsize_t v_start[4] = {hsize_t(start), 0, 0, ch}, v_count[4] = {len, s, s, hsize_t(k)};
        view_sel.selectHyperslab(H5S_SELECT_SET, v_count, v_start);
        if (H5Pset_virtual(dcpl, view_sel.getId(), ".", ("/" + store_name(sizes[level], k)).c_str(),
                           source_space.getId()) < 0) {
          H5Pclose(dcpl);
          throw std::runtime_error("cannot map pages into " + view_name(sizes[level]));
        }
      }
      start = end;
    }
    hid_t ds = H5Dcreate2(file.getId(), view_name(sizes[level]).c_str(), H5T_NATIVE_UINT8, view_space.getId(),
                          H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    if (ds < 0) throw std::runtime_error("cannot create " + view_name(sizes[level]));
    H5Dclose(ds);
  }
};

DatasetWriter::DatasetWriter(const std::filesystem::path& file, PageLayout layout)
    : impl_(std::make_unique<Impl>()) {
  H5::Exception::dontPrint();
  if (layout.channels != 1 && layout.channels != 3) throw std::logic_error("channels must be 1 or 3");
  try {
    impl_->file = H5::H5File(file.string(), H5F_ACC_TRUNC);
  } catch (const H5::Exception& e) {
    throw std::runtime_error("cannot create HDF5 file " + file.string() + ": " + e.getDetailMsg());
  }
  try {
    auto& m = *impl_;
    m.layout = std::move(layout);
    m.file.createGroup("pages");
    for (int s = m.layout.max_size; s >= 4; s /= 2) {
      m.sizes.push_back(s);
      m.grey.push_back(create_store(m.file, s, 1));
      if (m.layout.channels == 3) m.rgb.push_back(create_store(m.file, s, 3));
    }
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {256};
    H5::DSetCreatPropList props;
    props.setChunk(1, chunk);
    H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
    vlen.setCset(H5T_CSET_UTF8);
    m.names = m.file.createDataSet("imagenames", vlen, H5::DataSpace(1, dims, maxdims), props);
  } catch (const H5::Exception& e) {
    throw std::runtime_error("cannot create datasets in " + file.string() + ": " + e.getDetailMsg());
  }
}

DatasetWriter::~DatasetWriter() {
  try {
    close();
  } catch (...) {
  }
}

void DatasetWriter::append(const std::vector<PageImage>& pyramid, const std::string& name) {
  auto& m = *impl_;
  if (pyramid.size() != m.sizes.size()) throw std::logic_error("pyramid has the wrong number of levels");
  for (size_t i = 0; i < pyramid.size(); ++i) {
    if (pyramid[i].size != m.sizes[i] || pyramid[i].channels != m.layout.channels) {
      throw std::logic_error("pyramid level does not match the dataset");
    }
  }
  append_compressed(compress_pyramid(pyramid, m.layout.compact_grey_pages), name);
}

void DatasetWriter::append_compressed(const CompressedPage& page, const std::string& name) try {
  auto& m = *impl_;
  if (page.levels.size() != m.sizes.size()) throw std::logic_error("page has the wrong number of levels");
  if (page.kind != 1 && (page.kind != 3 || m.layout.channels != 3)) throw std::logic_error("page kind");
  const int k = m.push_kind(page.kind);
  const int64_t row = m.store_rows(k)++;
  for (size_t i = 0; i < page.levels.size(); ++i) {
    // Past max_runs a grey page joins the RGB store (re-encoded; rare by construction).
    write_page_chunk(m.store(i, k), row, k == page.kind ? page.levels[i] : grey_chunk_as_rgb(page.levels[i], m.sizes[i]));
  }
  H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
  vlen.setCset(H5T_CSET_UTF8);
  const char* text = name.c_str();
  append_row(m.names, static_cast<int64_t>(m.kind.size()) - 1, &text, vlen);
} catch (const H5::Exception& e) {
  throw std::runtime_error("HDF5 write failed (" + e.getFuncName() + "): " + e.getDetailMsg() + " (disk full?)");
}

int64_t DatasetWriter::pages() const { return static_cast<int64_t>(impl_->kind.size()); }

void DatasetWriter::set_note(const std::string& name, const std::string& value) {
  impl_->notes.emplace_back(name, value);
}

void DatasetWriter::append_file(const std::filesystem::path& part) try {
  auto& m = *impl_;
  H5::H5File in(part.string(), H5F_ACC_RDONLY);
  if (!in.nameExists("pages")) throw std::runtime_error(part.string() + " is not a page file of this version");
  H5::DataSet kind_ds = in.openDataSet(kKindName), row_ds = in.openDataSet(kRowName);
  const size_t n = static_cast<size_t>(dims_of(kind_ds)[0]);
  std::vector<uint8_t> src_kind(n);
  std::vector<int64_t> src_row(n);
  if (n > 0) {
    kind_ds.read(src_kind.data(), H5::PredType::NATIVE_UINT8);
    row_ds.read(src_row.data(), H5::PredType::NATIVE_INT64);
  }
  // Where each page goes: decided once for all sizes.
  std::vector<int> dst_kind(n);
  std::vector<int64_t> dst_row(n);
  for (size_t r = 0; r < n; ++r) {
    if (src_kind[r] != 1 && (src_kind[r] != 3 || m.layout.channels != 3)) {
      throw std::runtime_error(part.string() + " has a different page layout");
    }
    dst_kind[r] = m.push_kind(src_kind[r]);
    dst_row[r] = m.store_rows(dst_kind[r])++;
  }
  std::vector<uint8_t> buf;
  for (size_t i = 0; i < m.sizes.size(); ++i) {
    for (int k : {1, 3}) {
      if (k == 3 && m.layout.channels != 3) continue;
      H5::DataSet& dst = m.store(i, k);
      std::vector<hsize_t> out_dims = dims_of(dst);
      out_dims[0] = static_cast<hsize_t>(m.store_rows(k));
      dst.extend(out_dims.data());
    }
    H5::DataSet src_grey = in.openDataSet(store_name(m.sizes[i], 1));
    H5::DataSet src_rgb = m.layout.channels == 3 ? in.openDataSet(store_name(m.sizes[i], 3)) : H5::DataSet();
    if (dims_of(src_grey)[1] != hsize_t(m.sizes[i])) throw std::runtime_error(part.string() + " has other page sizes");
    for (size_t r = 0; r < n; ++r) {
      H5::DataSet& src = src_kind[r] == 1 ? src_grey : src_rgb;
      hsize_t off[4] = {hsize_t(src_row[r]), 0, 0, 0}, out_off[4] = {hsize_t(dst_row[r]), 0, 0, 0};
      hsize_t bytes = 0;
      uint32_t filters = 0;
      if (H5Dget_chunk_storage_size(src.getId(), off, &bytes) < 0) throw std::runtime_error("chunk size");
      buf.resize(bytes);
      if (H5Dread_chunk(src.getId(), H5P_DEFAULT, off, &filters, buf.data()) < 0) {
        throw std::runtime_error("reading page " + std::to_string(r) + " of " + part.string() + " failed");
      }
      if (dst_kind[r] != src_kind[r]) buf = grey_chunk_as_rgb(buf, m.sizes[i]);
      if (H5Dwrite_chunk(m.store(i, dst_kind[r]).getId(), H5P_DEFAULT, filters, out_off, buf.size(), buf.data()) < 0) {
        throw std::runtime_error("writing page " + std::to_string(r) + " of " + part.string() + " failed");
      }
    }
  }
  H5::DataSet names = in.openDataSet("imagenames");
  H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
  vlen.setCset(H5T_CSET_UTF8);
  std::vector<char*> raw(n);
  if (n > 0) names.read(raw.data(), vlen);
  const int64_t first = static_cast<int64_t>(m.kind.size() - n);
  for (size_t r = 0; r < n; ++r) append_row(m.names, first + static_cast<int64_t>(r), &raw[r], vlen);
  if (n > 0) H5::DataSet::vlenReclaim(raw.data(), vlen, names.getSpace());
} catch (const H5::Exception& e) {
  throw std::runtime_error("joining " + part.string() + " failed (" + e.getFuncName() + "): " + e.getDetailMsg());
}

std::string read_note(const std::filesystem::path& file, const std::string& name) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  H5::Group root = f.openGroup("/");
  if (!root.attrExists(name)) return "";
  H5::Attribute a = root.openAttribute(name);
  std::string value;
  a.read(a.getStrType(), value);
  return value;
}

namespace {

// verify_page_file's HDF5 walk, in the probe's child.
void verify_here(const std::filesystem::path& file, int64_t expected_pages) try {
  H5::Exception::dontPrint();
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  int64_t pages = -1;
  f.openGroup("/").openAttribute("page_count").read(H5::PredType::NATIVE_INT64, &pages);
  if (pages < 0 || (expected_pages >= 0 && pages != expected_pages)) {
    throw std::runtime_error("it holds " + std::to_string(pages) + " pages, " + std::to_string(expected_pages) +
                             " were written");
  }
  int levels = 0;
  for (hsize_t i = 0; i < f.getNumObjs(); ++i) {
    const std::string name = f.getObjnameByIdx(i);
    if (name.rfind("data_", 0) != 0) continue;
    ++levels;
    H5::DataSet view = f.openDataSet(name);
    H5::DataSpace space = view.getSpace();
    hsize_t dims[4] = {0, 0, 0, 0};
    if (space.getSimpleExtentNdims() != 4) throw std::runtime_error(name + " is not 4-D");
    space.getSimpleExtentDims(dims);
    if (static_cast<int64_t>(dims[0]) != pages) {
      throw std::runtime_error(name + " has " + std::to_string(dims[0]) + " pages of " + std::to_string(pages));
    }
    if (pages == 0) continue;
    // The last page of every level is read back: the end of the file is where a full disk cuts.
    hsize_t count[4] = {1, dims[1], dims[2], dims[3]}, start[4] = {dims[0] - 1, 0, 0, 0};
    space.selectHyperslab(H5S_SELECT_SET, count, start);
    std::vector<uint8_t> page(static_cast<size_t>(dims[1] * dims[2] * dims[3]));
    view.read(page.data(), H5::PredType::NATIVE_UINT8, H5::DataSpace(4, count), space);
  }
  if (levels == 0) throw std::runtime_error("it has no data_<size> level");
} catch (const H5::Exception& e) {
  throw std::runtime_error("page file " + file.string() + " does not verify (" + e.getDetailMsg() + ")");
} catch (const std::runtime_error& e) {
  if (std::string(e.what()).rfind("page file ", 0) == 0) throw;
  throw std::runtime_error("page file " + file.string() + " does not verify: " + e.what());
}

std::string verify_walk(const std::filesystem::path& file, const std::string& expected_pages) {
  verify_here(file, std::stoll(expected_pages));
  return {};
}

}  // namespace

void verify_page_file(const std::filesystem::path& file, int64_t expected_pages) {
  probe::probe_in_child(file, std::to_string(expected_pages), verify_walk);
}

int64_t read_page_count(const std::filesystem::path& file) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  int64_t n = 0;
  f.openGroup("/").openAttribute("page_count").read(H5::PredType::NATIVE_INT64, &n);
  return n;
}

void DatasetWriter::close() try {
  auto& m = *impl_;
  if (m.closed) return;
  m.closed = true;
  // The page index: which store and row each page is in.
  std::vector<int64_t> rows(m.kind.size());
  int64_t next[4] = {0, 0, 0, 0};
  for (size_t r = 0; r < m.kind.size(); ++r) rows[r] = next[m.kind[r]]++;
  write_index(m.file, kKindName, H5::PredType::NATIVE_UINT8, m.kind);
  write_index(m.file, kRowName, H5::PredType::NATIVE_INT64, rows);
  for (size_t i = 0; i < m.sizes.size(); ++i) m.write_view(i, rows);

  {
  H5::Group root = m.file.openGroup("/");  // closed before the file: a deferred close hides its errors
  write_attr(root, "format_version", H5::PredType::NATIVE_INT, kDatasetFormatVersion);
  write_attr(root, "max_size", H5::PredType::NATIVE_INT, m.sizes.front());
  write_attr(root, "channels", H5::PredType::NATIVE_INT, m.layout.channels);
  write_attr(root, "page_count", H5::PredType::NATIVE_INT64, static_cast<int64_t>(m.kind.size()));
  {
    hsize_t n = m.sizes.size();
    H5::Attribute a = root.createAttribute("sizes", H5::PredType::NATIVE_INT, H5::DataSpace(1, &n));
    a.write(H5::PredType::NATIVE_INT, m.sizes.data());
  }
  write_string_attr(root, "page_fit", m.layout.page_fit);
  write_string_attr(root, "layout", "NHWC uint8");
  write_string_attr(root, "generator", std::string("deepzine ") + DEEPZINE_VERSION);
  for (const auto& [name, value] : m.notes) write_string_attr(root, name, value);
  }
  m.grey.clear();
  m.rgb.clear();
  m.names = H5::DataSet();
  // Every object is closed, so H5Fclose really writes and closes now, and a failure (a full disk)
  // throws here instead of vanishing in a destructor.
  m.file.flush(H5F_SCOPE_GLOBAL);
  m.file.close();
} catch (const H5::Exception& e) {
  throw std::runtime_error("HDF5 close failed (" + e.getFuncName() + "): " + e.getDetailMsg());
}

}  // namespace deepzine::pages
