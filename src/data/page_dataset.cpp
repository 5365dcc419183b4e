#include "deepzine/data/page_dataset.h"

#include "deepzine/pages/page_file.h"
#include "deepzine/util/regular_file.h"
#include "deepzine/data/hdf5_probe.h"
#include "inflater.h"
#include "page_file_checks.h"
#include "row_reader.h"

#include <ATen/Parallel.h>
#include <H5Cpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

namespace deepzine::data {
namespace {

using checks::error;

// ITU-R BT.601 luma weights: a colour page read by a grey model looks as it would printed in grey.
constexpr float kLuma[3] = {0.299f, 0.587f, 0.114f};

// One HWC page of `stored` channels (uint8 0..255, or float32 already in [-1, 1]) to CHW float in
// [-1, 1] with `c` channels, in one pass: a grey page fills every channel, a colour page read as grey
// is its luma.
inline float to_unit(uint8_t v) { return v / 127.5f - 1.0f; }
inline float to_unit(float v) { return v; }
template <typename T>
void hwc_to_chw(const T* px, int64_t stored, float* out, int64_t c, int64_t r) {
  const int64_t n = r * r;
  if (stored == 1) {
    for (int64_t p = 0; p < n; ++p) out[p] = to_unit(px[p]);
    for (int64_t ch = 1; ch < c; ++ch) std::copy(out, out + n, out + ch * n);
  } else if (c == 1) {
    for (int64_t p = 0; p < n; ++p) {
      const T* rgb = px + p * stored;
      out[p] = kLuma[0] * to_unit(rgb[0]) + kLuma[1] * to_unit(rgb[1]) + kLuma[2] * to_unit(rgb[2]);
    }
  } else {
    for (int64_t p = 0; p < n; ++p)
      for (int64_t ch = 0; ch < c; ++ch) out[ch * n + p] = to_unit(px[p * stored + ch]);
  }
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
    if (space.getSimpleExtentNdims() != 4) throw error(file, name + " is not a 4-D [N, H, W, C] array");
    checks::require_sane_layout(view, name, file);
    space.getSimpleExtentDims(dims);
    if (dims[0] > bound) {
      throw error(file, name + " declares " + std::to_string(dims[0]) + " pages, more than a file of its size can "
                        "hold; the file is damaged: rebuild it with load_data");
    }
    if (pages >= 0 && static_cast<int64_t>(dims[0]) != pages) {
      throw error(file, name + " has " + std::to_string(dims[0]) + " pages but " + pages::view_name(sizes.front()) +
                            " has " + std::to_string(pages) + "; every level must hold the same pages (rebuild it "
                            "with load_data)");
    }
    pages = static_cast<int64_t>(dims[0]);
  }
  checks::check_attributes(f, file, pages);
  return pages;
}

// pages/kind of a format-2 file (1: grey store, 3: rgb store, per page).
std::vector<uint8_t> read_page_kinds(const H5::H5File& f, const std::filesystem::path& file, int64_t pages) {
  return checks::read_index<uint8_t>(f, pages::kKindName, static_cast<uint64_t>(pages), H5::PredType::NATIVE_UINT8, file);
}

// The page count, checked on every level, and (format 2) each page's kind, with the rows checked too,
// so that a damaged index stops the train stage before it starts. A file without the index (format 1,
// the original's) has no kinds.
struct CheckedIndex {
  int64_t pages = 0;
  bool has_index = false;
  std::vector<uint8_t> kinds;
};

CheckedIndex read_checked_index(const H5::H5File& f, const std::vector<int>& sizes, const std::filesystem::path& file) {
  CheckedIndex index;
  index.pages = checked_page_count(f, sizes, file);
  index.has_index = f.nameExists("pages") && f.nameExists(pages::kKindName);
  if (index.has_index) {
    index.kinds = read_page_kinds(f, file, index.pages);
    checks::read_index<int64_t>(f, pages::kRowName, static_cast<uint64_t>(index.pages), H5::PredType::NATIVE_INT64,
                                file);
  }
  return index;
}

}  // namespace

PageColours page_colours(const std::filesystem::path& file) {
  H5::Exception::dontPrint();
  PageColours out;
  const std::vector<int> sizes = available_resolutions(file);
  if (sizes.empty()) throw error(file, "has no data_<size> pages; run load_data to create it");
  try {
    H5::H5File f(file.string(), H5F_ACC_RDONLY);
    const CheckedIndex index = read_checked_index(f, sizes, file);
    const int64_t pages = index.pages;
    if (index.has_index) {
      for (uint8_t k : index.kinds) (k == 1 ? out.grey : out.colour) += 1;
      return out;
    }
    H5::DataSet view = f.openDataSet(pages::view_name(sizes.front()));
    hsize_t dims[4] = {0, 0, 0, 0};
    view.getSpace().getSimpleExtentDims(dims);
    (dims[3] == 1 ? out.grey : out.colour) = pages;
  } catch (const H5::Exception& e) {
    throw error(file, "cannot read its page index (" + e.getDetailMsg() + "); rebuild it with load_data");
  }
  return out;
}

namespace {

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

// The data_<size> levels of a regular file (HDF5 walks it here: probe it first).
std::vector<int> resolutions_of(const std::filesystem::path& file) {
  try {
    return resolutions_in(H5::H5File(file.string(), H5F_ACC_RDONLY));
  } catch (const H5::Exception& e) {
    throw error(file, "cannot open as HDF5 (" + e.getDetailMsg() + "); run load_data to create it");
  }
}

// What opening the page file makes HDF5 read: the levels, their page counts and the page index.
// Its errors are the run's (the probe passes them on), so HDF5's become the project's, naming the file.
void walk_page_file(const std::filesystem::path& file) {
  std::unique_ptr<H5::H5File> f;
  std::vector<int> sizes;
  try {
    f = std::make_unique<H5::H5File>(file.string(), H5F_ACC_RDONLY);
    sizes = resolutions_in(*f);
  } catch (const H5::Exception& e) {
    throw error(file, "cannot open as HDF5 (" + e.getDetailMsg() + "); run load_data to create it");
  }
  if (sizes.empty()) return;
  try {
    read_checked_index(*f, sizes, file);
  } catch (const H5::Exception& e) {
    throw error(file, "cannot read its levels or page index (" + e.getDetailMsg() + "); rebuild it with load_data");
  }
}

}  // namespace

std::vector<int> available_resolutions(const std::filesystem::path& file) {
  H5::Exception::dontPrint();
  // HDF5 opens the file itself: a FIFO would block it forever, a device feed it without end.
  util::require_regular_file(file, "data_hdf5");  // its message names the key and the file
  probe_in_child(file, walk_page_file);
  return resolutions_of(file);
}

struct PageDataset::Impl {
  PageDatasetOptions opt;
  H5::H5File file;
  H5::DataSet data;
  bool is_float = false;
  // This project's files keep one page per deflated chunk: the reader thread reads the compressed
  // chunks and the pages are inflated and converted on all cores, instead of HDF5 decompressing them one
  // by one (and, for grey pages, copying them into three channels element by element). Stores of other
  // layouts are read a page at a time by their RowReader, never through HDF5's chunk decoding.
  struct Store {
    H5::DataSet ds;
    int channels = 0;
    std::unique_ptr<RowReader> reader;
  };
  bool raw_chunks = false;
  std::vector<Store> stores;        // format 2: the grey and RGB stores; format 1: data_<size> itself
  std::vector<uint8_t> page_store;  // per page, index into stores (format 1: empty, all in stores[0])
  std::vector<int64_t> page_row;    // per page, its row there (format 1: empty, the page number)
  int64_t rows = 0;
  int channels = 0;      // of the view data_<size>
  int out_channels = 0;  // of the batches
  std::vector<int> sizes;

  std::thread worker;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<torch::Tensor> queue;
  std::exception_ptr failure;
  bool stop = false;
  int64_t epoch = 0;

  // This rank's share of one epoch's permutation.
  std::vector<int64_t> epoch_order(int64_t e) const {
    std::vector<int64_t> perm(rows);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(opt.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(e));
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int64_t> mine;
    for (int64_t i = opt.rank; i < rows; i += opt.world_size) mine.push_back(perm[i]);
    return mine;
  }

  torch::Tensor read_batch_raw(const std::vector<int64_t>& rows_wanted) {
    const int64_t r = opt.resolution, c = out_channels, b = static_cast<int64_t>(rows_wanted.size());
    std::vector<std::vector<uint8_t>> packed(b);
    std::vector<int> stored_channels(b);
    std::vector<char> deflated(b);
    for (int64_t i = 0; i < b; ++i) {
      const int64_t page = rows_wanted[i];
      const Store& store = stores[page_store.empty() ? 0 : page_store[page]];
      const hsize_t off[4] = {hsize_t(page_row.empty() ? page : page_row[page]), 0, 0, 0};
      const uint32_t mask = store.reader->read_raw_chunk(off, store.reader->max_stored_bytes(), packed[i],
                                                         "the chunk of page " + std::to_string(page));
      // Mask bit 0: HDF5 stored this chunk without deflate (the filter is optional); any other bit is
      // a filter this reader does not apply.
      if ((mask & ~1u) != 0) throw error(opt.file, "page " + std::to_string(page) + " is stored with filters it does not declare");
      stored_channels[i] = store.channels;
      deflated[i] = (mask & 1u) == 0;
    }
    torch::Tensor out = torch::empty({b, c, r, r}, torch::kFloat32);
    float* dst = out.data_ptr<float>();
    std::atomic<bool> bad{false};
    at::parallel_for(0, b, 1, [&](int64_t begin, int64_t end) {
      std::vector<uint8_t> page(static_cast<size_t>(r * r * 3));
      Inflater inflater;
      for (int64_t i = begin; i < end; ++i) {
        const int64_t sc = stored_channels[i];
        const size_t page_bytes = static_cast<size_t>(r * r * sc);
        const bool ok = deflated[i] ? inflater.inflate(packed[i], page.data(), page_bytes)
                                    : packed[i].size() == page_bytes;
        if (!ok) {
          bad = true;
          continue;
        }
        const uint8_t* px = deflated[i] ? page.data() : packed[i].data();
        hwc_to_chw(px, sc, dst + i * c * r * r, c, r);
      }
    });
    if (bad) throw error(opt.file, "a page chunk does not inflate (corrupt file?)");
    if (opt.pin_memory) out = out.pin_memory();
    return out;
  }

  torch::Tensor read_batch(const std::vector<int64_t>& rows_wanted) {
    if (raw_chunks) return read_batch_raw(rows_wanted);
    const int64_t r = opt.resolution, c = out_channels, b = static_cast<int64_t>(rows_wanted.size());
    // In store and row order, so that pages sharing a chunk decode it once; each lands at its place.
    std::vector<int64_t> order(static_cast<size_t>(b));
    std::iota(order.begin(), order.end(), 0);
    auto where = [&](int64_t i) {
      const int64_t page = rows_wanted[static_cast<size_t>(i)];
      return std::make_pair(page_store.empty() ? 0 : int(page_store[page]), page_row.empty() ? page : page_row[page]);
    };
    std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return where(x) < where(y); });
    torch::Tensor out = torch::empty({b, c, r, r}, torch::kFloat32);
    std::vector<uint8_t> page(static_cast<size_t>(r * r * 3) * (is_float ? 4 : 1));
    for (int64_t i : order) {
      const auto [store_index, row] = where(i);
      Store& store = stores[static_cast<size_t>(store_index)];
      store.reader->read(row, page.data());
      float* dst = out.data_ptr<float>() + i * c * r * r;
      if (is_float) hwc_to_chw(reinterpret_cast<const float*>(page.data()), store.channels, dst, c, r);
      else hwc_to_chw(page.data(), store.channels, dst, c, r);
    }
    if (opt.pin_memory) out = out.pin_memory();
    return out;
  }

  // Opens data_<size> and checks what the reader relies on; HDF5 exceptions go to the caller.
  void open(const std::string& name) {
    file.openFile(opt.file.string(), H5F_ACC_RDONLY);
    rows = checked_page_count(file, sizes, opt.file);
    data = file.openDataSet(name);
    checks::require_local_sources(data, name, opt.file);
    hsize_t dims[4] = {0, 0, 0, 0};
    data.getSpace().getSimpleExtentDims(dims);
    if (dims[1] != hsize_t(opt.resolution) || dims[2] != hsize_t(opt.resolution) || (dims[3] != 1 && dims[3] != 3)) {
      throw error(opt.file, name + " has shape [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " +
                                std::to_string(dims[2]) + ", " + std::to_string(dims[3]) +
                                "], expected [N, size, size, 1 or 3]");
    }
    channels = static_cast<int>(dims[3]);
    if (opt.channels != 0 && opt.channels != 1 && opt.channels != 3) {
      throw error(opt.file, "cannot read pages as " + std::to_string(opt.channels) + " channels (1 or 3)");
    }
    out_channels = opt.channels != 0 ? opt.channels : channels;
    if (rows < opt.world_size) throw error(opt.file, name + " has only " + std::to_string(rows) + " page(s)");
    const H5T_class_t cls = data.getTypeClass();
    const H5::DataType type = data.getDataType();
    // Exactly IEEE float32 (the original DeepZine's, values already in [-1, 1]) or one-byte integers.
    // A float type of another size is refused: fuzz_page_file found one declaring 4 GB elements,
    // which HDF5 converted by allocating gigabytes.
    if (cls == H5T_FLOAT && (type == H5::PredType::IEEE_F32LE || type == H5::PredType::IEEE_F32BE)) {
      is_float = true;
    } else if (cls != H5T_INTEGER || type.getSize() != 1) {
      throw error(opt.file, name + " must hold uint8 pages or float32 values in [-1, 1] (it holds " +
                                (cls == H5T_FLOAT ? std::to_string(type.getSize()) + "-byte floats" : "another type") +
                                "); rebuild it with load_data");
    }
    open_stores(name);
  }

  // Whether `ds` holds one uint8 [size, size, c] page per chunk, deflated (and byte-shuffled, a no-op).
  static bool one_deflated_page_per_chunk(const H5::DataSet& ds, int size, int c) {
    H5::DSetCreatPropList plist = ds.getCreatePlist();
    hsize_t chunk[4] = {0, 0, 0, 0};
    if (plist.getLayout() != H5D_CHUNKED || plist.getChunk(4, chunk) != 4 || chunk[0] != 1 ||
        chunk[1] != hsize_t(size) || chunk[2] != hsize_t(size) || chunk[3] != hsize_t(c) ||
        ds.getTypeClass() != H5T_INTEGER || ds.getDataType().getSize() != 1) {
      return false;
    }
    bool deflate = false;
    for (int f = 0; f < plist.getNfilters(); ++f) {
      unsigned int flags = 0, info = 0;
      size_t nelem = 0;
      char fname[64];
      const H5Z_filter_t id = plist.getFilter(f, flags, nelem, nullptr, sizeof fname, fname, info);
      if (id == H5Z_FILTER_DEFLATE) deflate = true;
      else if (id != H5Z_FILTER_SHUFFLE) return false;
    }
    return deflate;
  }

  // Opens the stores the pages are read from, and takes the raw-chunk path when every store allows it.
  void open_stores(const std::string& name) {
    const int r = opt.resolution;
    const H5::PredType& element = is_float ? H5::PredType::NATIVE_FLOAT : H5::PredType::NATIVE_UINT8;
    if (!file.nameExists("pages")) {  // format 1: the view is the store
      stores.push_back({data, channels, std::make_unique<RowReader>(data, name, opt.file, element)});
      raw_chunks = !is_float && one_deflated_page_per_chunk(data, r, channels);
      return;
    }
    const std::vector<uint8_t> kind = read_page_kinds(file, opt.file, rows);
    const hsize_t n = kind.size();
    page_row = checks::read_index<int64_t>(file, pages::kRowName, n, H5::PredType::NATIVE_INT64, opt.file);
    for (hsize_t i = 0; i < n; ++i) {
      if ((kind[i] != 1 && kind[i] != 3) || (kind[i] == 3 && channels != 3)) {
        throw error(opt.file, "pages/kind of page " + std::to_string(i) + " is " + std::to_string(kind[i]) +
                                  " (expected 1 or 3); the file is damaged, rebuild it with load_data");
      }
    }
    page_store.resize(n);
    bool found[4] = {false, false, false, false};
    raw_chunks = !is_float;
    for (int k : {1, 3}) {
      const std::string store_name = pages::store_name(r, k);
      if (!file.nameExists(store_name)) continue;
      checks::require_local_dataset(file, store_name, opt.file);
      H5::DataSet ds = file.openDataSet(store_name);
      if (!is_float && ds.getDataType().getSize() != 1) {
        throw error(opt.file, store_name + " does not hold uint8 pages; the file is damaged, rebuild it with load_data");
      }
      auto reader = std::make_unique<RowReader>(ds, store_name, opt.file, element);
      hsize_t dims[4];
      ds.getSpace().getSimpleExtentDims(dims);
      if (dims[1] != hsize_t(r) || dims[2] != hsize_t(r) || dims[3] != hsize_t(k)) {
        throw error(opt.file, store_name + " does not hold pages of " + std::to_string(r) + "x" + std::to_string(r) +
                                  "x" + std::to_string(k) + "; the file is damaged, rebuild it with load_data");
      }
      raw_chunks = raw_chunks && one_deflated_page_per_chunk(ds, r, k);
      for (hsize_t i = 0; i < n; ++i) {
        if (kind[i] != k) continue;
        if (page_row[i] < 0 || static_cast<hsize_t>(page_row[i]) >= dims[0]) {
          throw error(opt.file, "pages/row points page " + std::to_string(i) + " outside " + store_name);
        }
        page_store[i] = static_cast<uint8_t>(stores.size());
      }
      stores.push_back({ds, k, std::move(reader)});
      found[k] = true;
    }
    for (hsize_t i = 0; i < n; ++i) {
      if (!found[kind[i]]) throw error(opt.file, "has no " + pages::store_name(r, kind[i]) + " for page " + std::to_string(i));
    }
  }

  void run() {
    try {
      // As the opening thread does (walk_page_file): HDF5 (thread-safe build) keeps its error
      // printing per thread, and this reader thread's failures must be this project's errors, never
      // HDF5-DIAG dumps on the terminal.
      H5::Exception::dontPrint();
      // Skip start_batch batches: whole epochs by arithmetic, then a part of one.
      const int64_t per_epoch = static_cast<int64_t>(epoch_order(0).size());
      const int64_t skipped = opt.start_batch * opt.batch_size;
      {
        std::lock_guard<std::mutex> lock(mutex);
        epoch = per_epoch > 0 ? skipped / per_epoch : 0;
      }
      std::vector<int64_t> order = epoch_order(epoch);
      size_t pos = static_cast<size_t>(per_epoch > 0 ? skipped % per_epoch : 0);
      for (;;) {
        std::vector<int64_t> batch;
        while (static_cast<int>(batch.size()) < opt.batch_size) {
          if (pos == order.size()) {
            std::lock_guard<std::mutex> lock(mutex);
            order = epoch_order(++epoch);  // reshuffle every epoch
            pos = 0;
          }
          batch.push_back(order[pos++]);
        }
        torch::Tensor t = read_batch(batch);
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return stop || static_cast<int>(queue.size()) < opt.prefetch_batches; });
        if (stop) return;
        queue.push_back(std::move(t));
        cv.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      failure = std::current_exception();
      cv.notify_all();
    }
  }
};

PageDataset::PageDataset(PageDatasetOptions options) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.opt = std::move(options);
  if (m.opt.batch_size < 1) throw error(m.opt.file, "batch size must be at least 1");
  if (m.opt.start_batch < 0) throw error(m.opt.file, "start batch must not be negative");
  if (m.opt.world_size < 1 || m.opt.rank < 0 || m.opt.rank >= m.opt.world_size) {
    throw error(m.opt.file, "invalid rank " + std::to_string(m.opt.rank) + " of " + std::to_string(m.opt.world_size));
  }
  m.sizes = available_resolutions(m.opt.file);
  const std::string name = "data_" + std::to_string(m.opt.resolution);
  if (std::find(m.sizes.begin(), m.sizes.end(), m.opt.resolution) == m.sizes.end()) {
    std::string have;
    for (int s : m.sizes) have += (have.empty() ? "" : ", ") + std::to_string(s);
    throw error(m.opt.file, "has no " + name + " (it has " + (have.empty() ? "none" : have) +
                                "); rebuild it with a larger data_output_size or train a smaller gan_output_size");
  }
  try {
    m.open(name);
  } catch (const H5::Exception& e) {
    // Every HDF5 failure (a missing dataset, a group where a dataset belongs, a link loop, a damaged
    // chunk index) is an error naming the file, never an uncaught exception.
    throw error(m.opt.file, "cannot read " + name + " (" + e.getDetailMsg() + "); rebuild the file with load_data");
  }
  m.worker = std::thread([this] { impl_->run(); });
}

PageDataset::~PageDataset() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
}

torch::Tensor PageDataset::next_batch() {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->cv.wait(lock, [&] { return !impl_->queue.empty() || impl_->failure; });
  if (impl_->queue.empty()) {
    try {
      std::rethrow_exception(impl_->failure);
    } catch (const H5::Exception& e) {
      throw error(impl_->opt.file, "read failed: " + e.getDetailMsg());
    }
  }
  torch::Tensor t = std::move(impl_->queue.front());
  impl_->queue.pop_front();
  impl_->cv.notify_all();
  return t;
}

int64_t PageDataset::size() const { return impl_->rows; }
int PageDataset::channels() const { return impl_->out_channels; }
std::vector<int> PageDataset::resolutions() const { return impl_->sizes; }
int64_t PageDataset::epoch() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->epoch;
}

}  // namespace deepzine::data
