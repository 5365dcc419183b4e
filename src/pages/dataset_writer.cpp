#include "deepzine/pages/dataset_writer.h"

#include <H5Cpp.h>

#include <stdexcept>

namespace deepzine::pages {

struct DatasetWriter::Impl {
  H5::H5File file;
  std::vector<int> sizes;  // max_size, max_size/2, ..., 4 (the order of a pyramid)
  std::vector<H5::DataSet> data;
  H5::DataSet names;
  int channels = 3;
  std::string page_fit;
  int64_t rows = 0;
  bool closed = false;
  std::vector<std::pair<std::string, std::string>> notes;
};

namespace {

H5::DataSet create_pages(H5::H5File& file, int size, int channels) {
  hsize_t dims[4] = {0, hsize_t(size), hsize_t(size), hsize_t(channels)};
  hsize_t maxdims[4] = {H5S_UNLIMITED, hsize_t(size), hsize_t(size), hsize_t(channels)};
  H5::DataSpace space(4, dims, maxdims);
  H5::DSetCreatPropList props;
  // One page per chunk: a shuffled reader touches exactly one chunk per page; gzip 1 halves the size
  // of mostly-white pages at little CPU cost (measured, docs/BENCHMARKS.md).
  hsize_t chunk[4] = {1, hsize_t(size), hsize_t(size), hsize_t(channels)};
  props.setChunk(4, chunk);
  props.setShuffle();
  props.setDeflate(1);
  return file.createDataSet("data_" + std::to_string(size), H5::PredType::NATIVE_UINT8, space, props);
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

void append_row(H5::DataSet& ds, int64_t row, const void* data, const H5::DataType& type) {
  H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(rank);
  space.getSimpleExtentDims(dims.data());
  dims[0] = static_cast<hsize_t>(row + 1);
  ds.extend(dims.data());
  H5::DataSpace file_space = ds.getSpace();
  std::vector<hsize_t> start(rank, 0), count(dims);
  start[0] = static_cast<hsize_t>(row);
  count[0] = 1;
  file_space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
  H5::DataSpace mem_space(rank, count.data());
  ds.write(data, type, mem_space, file_space);
}

}  // namespace

DatasetWriter::DatasetWriter(const std::filesystem::path& file, int max_size, int channels,
                             const std::string& page_fit)
    : impl_(std::make_unique<Impl>()) {
  H5::Exception::dontPrint();
  try {
    impl_->file = H5::H5File(file.string(), H5F_ACC_TRUNC);
  } catch (const H5::Exception& e) {
    throw std::runtime_error("cannot create HDF5 file " + file.string() + ": " + e.getDetailMsg());
  }
  try {
  impl_->channels = channels;
  impl_->page_fit = page_fit;
  for (int s = max_size; s >= 4; s /= 2) {
    impl_->sizes.push_back(s);
    impl_->data.push_back(create_pages(impl_->file, s, channels));
  }
  hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {256};
  H5::DSetCreatPropList props;
  props.setChunk(1, chunk);
  H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
  vlen.setCset(H5T_CSET_UTF8);
  impl_->names = impl_->file.createDataSet("imagenames", vlen, H5::DataSpace(1, dims, maxdims), props);
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

void DatasetWriter::append(const std::vector<PageImage>& pyramid, const std::string& name) try {
  if (pyramid.size() != impl_->sizes.size()) throw std::logic_error("pyramid has the wrong number of levels");
  for (size_t i = 0; i < pyramid.size(); ++i) {
    if (pyramid[i].size != impl_->sizes[i] || pyramid[i].channels != impl_->channels) {
      throw std::logic_error("pyramid level does not match the dataset");
    }
    append_row(impl_->data[i], impl_->rows, pyramid[i].pixels.data(), H5::PredType::NATIVE_UINT8);
  }
  H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
  vlen.setCset(H5T_CSET_UTF8);
  const char* text = name.c_str();
  append_row(impl_->names, impl_->rows, &text, vlen);
  ++impl_->rows;
} catch (const H5::Exception& e) {
  throw std::runtime_error("HDF5 write failed (" + e.getFuncName() + "): " + e.getDetailMsg() + " (disk full?)");
}

int64_t DatasetWriter::pages() const { return impl_->rows; }

void DatasetWriter::set_note(const std::string& name, const std::string& value) {
  impl_->notes.emplace_back(name, value);
}

void DatasetWriter::append_file(const std::filesystem::path& part) try {
  H5::H5File in(part.string(), H5F_ACC_RDONLY);
  int64_t n = 0;
  for (size_t i = 0; i < impl_->sizes.size(); ++i) {
    H5::DataSet src = in.openDataSet("data_" + std::to_string(impl_->sizes[i]));
    hsize_t dims[4];
    src.getSpace().getSimpleExtentDims(dims);
    if (dims[1] != hsize_t(impl_->sizes[i]) || dims[3] != hsize_t(impl_->channels)) {
      throw std::runtime_error(part.string() + " has a different page layout");
    }
    n = static_cast<int64_t>(dims[0]);
    H5::DataSet& dst = impl_->data[i];
    hsize_t out_dims[4] = {hsize_t(impl_->rows + n), dims[1], dims[2], dims[3]};
    dst.extend(out_dims);
    std::vector<uint8_t> buf;
    for (hsize_t r = 0; r < dims[0]; ++r) {
      hsize_t off[4] = {r, 0, 0, 0}, out_off[4] = {hsize_t(impl_->rows) + r, 0, 0, 0};
      hsize_t bytes = 0;
      uint32_t filters = 0;
      if (H5Dget_chunk_storage_size(src.getId(), off, &bytes) < 0) throw std::runtime_error("chunk size");
      buf.resize(bytes);
      if (H5Dread_chunk(src.getId(), H5P_DEFAULT, off, &filters, buf.data()) < 0 ||
          H5Dwrite_chunk(dst.getId(), H5P_DEFAULT, filters, out_off, bytes, buf.data()) < 0) {
        throw std::runtime_error("copying page " + std::to_string(r) + " of " + part.string() + " failed");
      }
    }
  }
  H5::DataSet names = in.openDataSet("imagenames");
  H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
  vlen.setCset(H5T_CSET_UTF8);
  std::vector<char*> raw(static_cast<size_t>(n));
  if (n > 0) names.read(raw.data(), vlen);
  for (int64_t r = 0; r < n; ++r) append_row(impl_->names, impl_->rows + r, &raw[r], vlen);
  if (n > 0) H5::DataSet::vlenReclaim(raw.data(), vlen, names.getSpace());
  impl_->rows += n;
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

int64_t read_page_count(const std::filesystem::path& file) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  int64_t n = 0;
  f.openGroup("/").openAttribute("page_count").read(H5::PredType::NATIVE_INT64, &n);
  return n;
}

void DatasetWriter::close() try {
  if (impl_->closed) return;
  impl_->closed = true;
  H5::Group root = impl_->file.openGroup("/");
  write_attr(root, "format_version", H5::PredType::NATIVE_INT, kDatasetFormatVersion);
  write_attr(root, "max_size", H5::PredType::NATIVE_INT, impl_->sizes.front());
  write_attr(root, "channels", H5::PredType::NATIVE_INT, impl_->channels);
  write_attr(root, "page_count", H5::PredType::NATIVE_INT64, impl_->rows);
  {
    hsize_t n = impl_->sizes.size();
    H5::Attribute a = root.createAttribute("sizes", H5::PredType::NATIVE_INT, H5::DataSpace(1, &n));
    a.write(H5::PredType::NATIVE_INT, impl_->sizes.data());
  }
  write_string_attr(root, "page_fit", impl_->page_fit);
  write_string_attr(root, "layout", "NHWC uint8");
  write_string_attr(root, "generator", std::string("deepzine ") + DEEPZINE_VERSION);
  for (const auto& [name, value] : impl_->notes) write_string_attr(root, name, value);
  impl_->data.clear();
  impl_->names = H5::DataSet();
  impl_->file.close();
} catch (const H5::Exception& e) {
  throw std::runtime_error("HDF5 close failed (" + e.getFuncName() + "): " + e.getDetailMsg());
}

}  // namespace deepzine::pages
