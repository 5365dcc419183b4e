#include "deepzine/data/page_dataset.h"

#include <ATen/Parallel.h>
#include <H5Cpp.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

namespace deepzine::data {
namespace {

std::runtime_error error(const std::filesystem::path& file, const std::string& what) {
  return std::runtime_error("dataset " + file.string() + ": " + what);
}

}  // namespace

std::vector<int> available_resolutions(const std::filesystem::path& file) {
  H5::Exception::dontPrint();
  std::vector<int> sizes;
  try {
    H5::H5File f(file.string(), H5F_ACC_RDONLY);
    for (hsize_t i = 0; i < f.getNumObjs(); ++i) {
      std::string name = f.getObjnameByIdx(i);
      if (name.rfind("data_", 0) == 0) {
        try {
          sizes.push_back(std::stoi(name.substr(5)));
        } catch (...) {
        }
      }
    }
  } catch (const H5::Exception& e) {
    throw error(file, "cannot open as HDF5 (" + e.getDetailMsg() + "); run load_data to create it");
  }
  std::sort(sizes.begin(), sizes.end());
  return sizes;
}

struct PageDataset::Impl {
  PageDatasetOptions opt;
  H5::H5File file;
  H5::DataSet data;
  bool is_float = false;
  // This project's layout (uint8, one page per chunk, deflate with or without shuffle, which is a
  // no-op on bytes): the reader thread reads the compressed chunks and the pages are inflated and
  // converted on all cores, instead of HDF5 decompressing them one by one.
  bool raw_chunks = false;
  int64_t rows = 0;
  int channels = 0;
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
    const int64_t r = opt.resolution, c = channels, b = static_cast<int64_t>(rows_wanted.size());
    const uLongf page_bytes = static_cast<uLongf>(r * r * c);
    std::vector<std::vector<uint8_t>> packed(b);
    for (int64_t i = 0; i < b; ++i) {
      hsize_t off[4] = {hsize_t(rows_wanted[i]), 0, 0, 0}, bytes = 0;
      uint32_t mask = 0;
      if (H5Dget_chunk_storage_size(data.getId(), off, &bytes) < 0) throw error(opt.file, "cannot locate a page chunk");
      packed[i].resize(bytes);
      if (H5Dread_chunk(data.getId(), H5P_DEFAULT, off, &mask, packed[i].data()) < 0 || mask != 0) {
        throw error(opt.file, "cannot read page " + std::to_string(rows_wanted[i]));
      }
    }
    torch::Tensor out = torch::empty({b, c, r, r}, torch::kFloat32);
    float* dst = out.data_ptr<float>();
    std::atomic<bool> bad{false};
    at::parallel_for(0, b, 1, [&](int64_t begin, int64_t end) {
      std::vector<uint8_t> page(page_bytes);
      for (int64_t i = begin; i < end; ++i) {
        uLongf n = page_bytes;
        if (uncompress(page.data(), &n, packed[i].data(), static_cast<uLong>(packed[i].size())) != Z_OK ||
            n != page_bytes) {
          bad = true;
          continue;
        }
        // HWC uint8 -> CHW float in [-1, 1], one pass.
        float* o = dst + i * c * r * r;
        for (int64_t p = 0; p < r * r; ++p)
          for (int64_t ch = 0; ch < c; ++ch) o[ch * r * r + p] = page[p * c + ch] / 127.5f - 1.0f;
      }
    });
    if (bad) throw error(opt.file, "a page chunk does not inflate (corrupt file?)");
    if (opt.pin_memory) out = out.pin_memory();
    return out;
  }

  torch::Tensor read_batch(const std::vector<int64_t>& rows_wanted) {
    if (raw_chunks) return read_batch_raw(rows_wanted);
    const int64_t r = opt.resolution, c = channels, b = static_cast<int64_t>(rows_wanted.size());
    torch::Tensor raw = torch::empty({b, r, r, c}, is_float ? torch::kFloat32 : torch::kUInt8);
    const size_t row_bytes = static_cast<size_t>(r * r * c) * raw.element_size();
    hsize_t count[4] = {1, hsize_t(r), hsize_t(r), hsize_t(c)};
    H5::DataSpace mem(4, count);
    H5::DataSpace space = data.getSpace();
    for (int64_t i = 0; i < b; ++i) {
      hsize_t start[4] = {hsize_t(rows_wanted[i]), 0, 0, 0};
      space.selectHyperslab(H5S_SELECT_SET, count, start);
      data.read(static_cast<char*>(raw.data_ptr()) + i * row_bytes,
                is_float ? H5::PredType::NATIVE_FLOAT : H5::PredType::NATIVE_UINT8, mem, space);
    }
    torch::Tensor out = raw.permute({0, 3, 1, 2});
    out = is_float ? out.contiguous() : out.to(torch::kFloat32).div_(127.5).sub_(1.0).contiguous();
    if (opt.pin_memory) out = out.pin_memory();
    return out;
  }

  void run() {
    try {
      std::vector<int64_t> order = epoch_order(0);
      size_t pos = 0;
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
    m.file = H5::H5File(m.opt.file.string(), H5F_ACC_RDONLY);
    m.data = m.file.openDataSet(name);
  } catch (const H5::Exception& e) {
    throw error(m.opt.file, "cannot open " + name + ": " + e.getDetailMsg());
  }
  H5::DataSpace space = m.data.getSpace();
  hsize_t dims[4] = {0, 0, 0, 0};
  if (space.getSimpleExtentNdims() != 4) throw error(m.opt.file, name + " is not a 4-D [N, H, W, C] array");
  space.getSimpleExtentDims(dims);
  if (dims[1] != hsize_t(m.opt.resolution) || dims[2] != hsize_t(m.opt.resolution) || (dims[3] != 1 && dims[3] != 3)) {
    throw error(m.opt.file, name + " has shape [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " +
                                std::to_string(dims[2]) + ", " + std::to_string(dims[3]) +
                                "], expected [N, size, size, 1 or 3]");
  }
  m.rows = static_cast<int64_t>(dims[0]);
  m.channels = static_cast<int>(dims[3]);
  if (m.rows < m.opt.world_size) throw error(m.opt.file, name + " has only " + std::to_string(m.rows) + " page(s)");
  const H5T_class_t cls = m.data.getTypeClass();
  if (cls == H5T_FLOAT) {
    m.is_float = true;  // the original DeepZine: float32 already in [-1, 1]
  } else if (cls != H5T_INTEGER || m.data.getDataType().getSize() != 1) {
    throw error(m.opt.file, name + " must hold uint8 pages or float32 values in [-1, 1]");
  }
  if (!m.is_float) {
    H5::DSetCreatPropList plist = m.data.getCreatePlist();
    hsize_t chunk[4] = {0, 0, 0, 0};
    bool deflate = false, other = false;
    if (plist.getLayout() == H5D_CHUNKED && plist.getChunk(4, chunk) == 4 && chunk[0] == 1 && chunk[1] == dims[1] &&
        chunk[2] == dims[2] && chunk[3] == dims[3]) {
      for (int f = 0; f < plist.getNfilters(); ++f) {
        unsigned int flags = 0, info = 0;
        size_t nelem = 0;
        char fname[64];
        const H5Z_filter_t id = plist.getFilter(f, flags, nelem, nullptr, sizeof fname, fname, info);
        if (id == H5Z_FILTER_DEFLATE) deflate = true;
        else if (id != H5Z_FILTER_SHUFFLE) other = true;
      }
      m.raw_chunks = deflate && !other;
    }
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
int PageDataset::channels() const { return impl_->channels; }
std::vector<int> PageDataset::resolutions() const { return impl_->sizes; }
int64_t PageDataset::epoch() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->epoch;
}

}  // namespace deepzine::data
