#include "deepzine/data/page_dataset.h"

#include "deepzine/util/regular_file.h"
#include "deepzine/probe/hdf5_probe.h"
#include "dataset_error.h"
#include "inflater.h"
#include "page_map.h"
#include "page_map_builder.h"
#include "row_reader.h"

#include <ATen/Parallel.h>
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

// What the probe's child answers: the page map of the file for the level asked (0: the levels alone).
std::string walk_page_file(const std::filesystem::path& file, const std::string& question) {
  return serialize(build_page_map(file, std::stoi(question)));
}

// The checked map of `file`, read by HDF5 in a forked child (hdf5_probe.h): this process never lets
// HDF5 read a page file.
PageMap read_page_map(const std::filesystem::path& file, int resolution) {
  // HDF5 opens the file itself: a FIFO would block it forever, a device feed it without end.
  util::require_regular_file(file, "data_hdf5");  // its message names the key and the file
  return deserialize_page_map(probe::probe_in_child(file, std::to_string(resolution), walk_page_file), file);
}

}  // namespace

std::vector<int> available_resolutions(const std::filesystem::path& file) {
  return read_page_map(file, 0).resolutions;
}

PageColours page_colours(const std::filesystem::path& file) {
  const PageMap map = read_page_map(file, 0);
  if (map.resolutions.empty()) throw dataset_error(file, "has no data_<size> pages; run load_data to create it");
  PageColours out;
  out.grey = map.colours.grey;
  out.colour = map.colours.colour;
  return out;
}

struct PageDataset::Impl {
  PageDatasetOptions opt;
  bool is_float = false;
  // This project's files keep one page per deflated chunk: the reader thread reads the compressed
  // chunks and the pages are inflated and converted on all cores, instead of one by one (and, for grey
  // pages, copied into three channels element by element). Stores of other layouts are read a page at
  // a time by their RowReader. Neither calls HDF5: the places of the pages come from the page map.
  struct Store {
    int channels = 0;
    std::unique_ptr<RowReader> reader;
    int deflate_filter = -1;  // the raw path: deflate's place in the pipeline (its bit in a chunk's mask)
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
      const uint64_t off[4] = {uint64_t(page_row.empty() ? page : page_row[page]), 0, 0, 0};
      const uint32_t mask = store.reader->read_raw_chunk(off, packed[i], "the chunk of page " + std::to_string(page));
      // Deflate's bit: HDF5 stored this chunk without deflate (the filter is optional); shuffle's is a
      // no-op on bytes; any other bit is a filter the chunk's store does not declare.
      const uint32_t deflate_bit = 1u << store.deflate_filter;
      const size_t filters = store.reader->store().filters.size();
      if (filters < 32 && (mask >> filters) != 0) {
        throw dataset_error(opt.file, "page " + std::to_string(page) + " is stored with filters it does not declare");
      }
      stored_channels[i] = store.channels;
      deflated[i] = (mask & deflate_bit) == 0;
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
    if (bad) throw dataset_error(opt.file, "a page chunk does not inflate (corrupt file?)");
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

  // The level's stores from its page map, and the raw-chunk path when every store allows it.
  void open(PageMap map) {
    rows = map.pages;
    channels = map.channels;
    is_float = map.is_float;
    const std::string name = "data_" + std::to_string(opt.resolution);
    if (opt.channels != 0 && opt.channels != 1 && opt.channels != 3) {
      throw dataset_error(opt.file, "cannot read pages as " + std::to_string(opt.channels) + " channels (1 or 3)");
    }
    out_channels = opt.channels != 0 ? opt.channels : channels;
    if (rows < opt.world_size) throw dataset_error(opt.file, name + " has only " + std::to_string(rows) + " page(s)");
    page_store = std::move(map.page_store);
    page_row = std::move(map.page_row);
    raw_chunks = !is_float;
    for (StoreMap& store_map : map.stores) {
      Store store;
      store.channels = store_map.channels;
      store.deflate_filter = deflated_page_per_chunk(store_map, opt.resolution);
      raw_chunks = raw_chunks && store.deflate_filter >= 0;
      store.reader = std::make_unique<RowReader>(std::move(store_map), opt.file,
                                                 is_float ? MemoryType::kFloat32 : MemoryType::kUint8);
      stores.push_back(std::move(store));
    }
    if (stores.empty() && rows > 0) throw dataset_error(opt.file, "has no pages stored for " + name);
  }

  // Where `store` holds one unsigned uint8 [size, size, c] page per chunk, deflated (and byte-shuffled,
  // a no-op): deflate's place in its pipeline; -1 otherwise.
  static int deflated_page_per_chunk(const StoreMap& store, int size) {
    const uint64_t r = static_cast<uint64_t>(size);
    if (store.layout != StoreLayout::kChunked || store.chunk[0] != 1 || store.chunk[1] != r || store.chunk[2] != r ||
        store.chunk[3] != uint64_t(store.channels) || store.type.is_float || store.type.is_signed || store.type.bytes != 1) {
      return -1;
    }
    int deflate = -1;
    for (size_t f = 0; f < store.filters.size() && f < 32; ++f) {
      if (store.filters[f] == kFilterDeflate && deflate < 0) deflate = static_cast<int>(f);
      else if (store.filters[f] != kFilterShuffle) return -1;
    }
    return store.filters.size() <= 32 ? deflate : -1;
  }

  void run() {
    try {
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
  if (m.opt.batch_size < 1) throw dataset_error(m.opt.file, "batch size must be at least 1");
  if (m.opt.start_batch < 0) throw dataset_error(m.opt.file, "start batch must not be negative");
  if (m.opt.world_size < 1 || m.opt.rank < 0 || m.opt.rank >= m.opt.world_size) {
    throw dataset_error(m.opt.file, "invalid rank " + std::to_string(m.opt.rank) + " of " + std::to_string(m.opt.world_size));
  }
  PageMap map = read_page_map(m.opt.file, m.opt.resolution);
  m.sizes = map.resolutions;
  const std::string name = "data_" + std::to_string(m.opt.resolution);
  if (std::find(m.sizes.begin(), m.sizes.end(), m.opt.resolution) == m.sizes.end()) {
    std::string have;
    for (int s : m.sizes) have += (have.empty() ? "" : ", ") + std::to_string(s);
    throw dataset_error(m.opt.file, "has no " + name + " (it has " + (have.empty() ? "none" : have) +
                                        "); rebuild it with a larger data_output_size or train a smaller gan_output_size");
  }
  m.open(std::move(map));
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
  if (impl_->queue.empty()) std::rethrow_exception(impl_->failure);
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
