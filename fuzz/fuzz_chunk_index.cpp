// The page map's chunk-index reader (src/data/chunk_index.h): object headers and version-1 B-trees
// read from untrusted bytes, in the probe's child, where fuzz_page_file's coverage cannot see it.
// Input: a 32-byte description of the dataset, then the file's bytes. fuzz/chunk_index_seeds.py makes
// seeds from real files (h5py, PyTables, load_data's).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "chunk_index.h"

namespace {

constexpr size_t kPrefix = 32;

uint64_t little_endian(const uint8_t* at, int bytes) {
  uint64_t value = 0;
  for (int b = 0; b < bytes; ++b) value |= uint64_t(at[b]) << (8 * b);
  return value;
}

}  // namespace

// Prefix: header address (8 bytes), rank (1: 1 + value % 4), address bytes (1), length bytes (1),
// dims (4 x 2 bytes), chunk dims less one (4 x 2 bytes), 5 bytes unused.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kPrefix) return 0;
  deepzine::data::StoreMap store;
  store.name = "data_8";
  store.rank = 1 + data[8] % 4;
  store.layout = deepzine::data::StoreLayout::kChunked;
  uint64_t chunks = 1;
  for (int d = 0; d < 4; ++d) {
    store.dims[d] = d < store.rank ? little_endian(data + 11 + 2 * d, 2) : 1;
    store.chunk[d] = d < store.rank ? 1 + little_endian(data + 19 + 2 * d, 2) : 1;
    chunks *= store.grid(d);
  }
  if (chunks > (1u << 16)) return 0;  // the builder bounds the grid by the file's size
  store.chunks.assign(chunks, {});
  deepzine::data::ChunkIndexSource source;
  source.file_descriptor = memfd_create("fuzz_chunk_index", MFD_CLOEXEC);
  if (source.file_descriptor < 0) return 0;
  const size_t file_bytes = size - kPrefix;
  if (::write(source.file_descriptor, data + kPrefix, file_bytes) != static_cast<ssize_t>(file_bytes)) __builtin_trap();
  source.file_bytes = file_bytes;
  source.header_address = little_endian(data, 8);
  source.address_bytes = data[9];
  source.length_bytes = data[10];
  try {
    // The chunks it lists are not checked against the file here: RowReader checks each when it reads it.
    deepzine::data::read_btree_chunk_index(source, store, "fuzz.h5");
  } catch (const std::runtime_error&) {
  }
  ::close(source.file_descriptor);
  return 0;
}
