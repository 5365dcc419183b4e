// Where the pages of a page file lie, as plain data: what the reader needs to read pages with its own
// `pread`, without the HDF5 library.
#pragma once
//
// Why: HDF5 (Debian's 1.10) reads freed memory, overruns buffers and loops on some damaged files.
// A forked child (hdf5_probe.h) lets HDF5 read the file's metadata, checks it and answers this map
// (page_map_builder.h); the reading process never calls HDF5 on a page file, so what HDF5 does on a
// hostile file happens in the child, which may die without harm. fuzz_page_file found a
// use-after-free inside HDF5's attribute lookup that struck only by the heap's history: a probe
// walk in a child passed and the same calls in the reader did not.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace deepzine::data {

// How one stored value is laid out: an integer of 1, 2, 4 or 8 bytes (signed or not), or IEEE float32;
// either byte order.
struct StoredType {
  uint8_t bytes = 1;
  bool is_float = false;
  bool is_signed = false;
  bool big_endian = false;
};

// The HDF5 filters a page map may name (HDF5's ids); page_map_builder refuses every other.
constexpr uint16_t kFilterDeflate = 1, kFilterShuffle = 2;
constexpr uint16_t kFilterBlosc = 32001;  // PyTables' blosc: the original DeepZine wrote its pages with it

enum class StoreLayout : uint8_t { kContiguous = 0, kCompact = 1, kChunked = 2 };

// One chunk's bytes in the file (HDF5's address, before the base address is added) and which of the
// pipeline's filters HDF5 skipped for it (bit f: filter f).
struct ChunkLocation {
  uint64_t address = 0;
  uint64_t bytes = 0;
  uint32_t filter_mask = 0;
};

// One dataset of rank 1 to 4 whose first dimension is rows: a page store [N, H, W, C] or an index
// list [N]; a lower rank is padded with ones.
struct StoreMap {
  std::string name;
  int channels = 0;  // page stores: 1 or 3
  int rank = 4;
  uint64_t dims[4] = {1, 1, 1, 1};
  StoredType type;
  StoreLayout layout = StoreLayout::kContiguous;
  uint64_t base_address = 0;           // HDF5 addresses count from here (the user block's size)
  uint64_t contiguous_address = 0;     // kContiguous: where its bytes start
  std::vector<uint8_t> compact_bytes;  // kCompact: the data itself
  uint64_t chunk[4] = {1, 1, 1, 1};    // kChunked
  std::vector<uint16_t> filters;       // kChunked: the pipeline, in the order HDF5 applied it
  std::vector<ChunkLocation> chunks;   // kChunked: every chunk of the grid, row-major

  // Chunks along each dimension.
  uint64_t grid(int d) const { return dims[d] / chunk[d] + (dims[d] % chunk[d] != 0 ? 1 : 0); }
};

struct PageColoursCount {
  int64_t grey = 0, colour = 0;
};

// A checked page file: its levels and, when one level was asked for, where that level's pages lie.
struct PageMap {
  std::vector<int> resolutions;  // the data_<size> levels, ascending
  int64_t pages = 0;             // in every level
  PageColoursCount colours;      // from pages/kind (format 2) or the first level's channels
  // The level asked for (0: none).
  int resolution = 0;
  int channels = 0;       // of the view data_<resolution>
  bool is_float = false;  // the original DeepZine's float32 pages in [-1, 1]
  std::vector<StoreMap> stores;     // format 2: the grey and RGB stores; format 1: data_<size> itself
  std::vector<uint8_t> page_store;  // per page, index into stores (format 1: empty, all in stores[0])
  std::vector<int64_t> page_row;    // per page, its row there (format 1: empty, the page number)
};

std::string serialize(const PageMap& map);
// Throws std::runtime_error naming `file` when `bytes` is not a whole map (a child that died writing).
PageMap deserialize_page_map(const std::string& bytes, const std::filesystem::path& file);

}  // namespace deepzine::data
