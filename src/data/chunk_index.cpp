#include "chunk_index.h"

#include "dataset_error.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace deepzine::data {
namespace {

// Object header message types (HDF5 file format specification, IV.A.2).
constexpr unsigned kLayoutMessage = 0x08, kContinuationMessage = 0x10;
constexpr uint64_t kMaxBlockBytes = uint64_t(1) << 20;  // one object header block
constexpr int kMaxHeaderBlocks = 64;
constexpr int kMaxTreeLevels = 32;

class IndexReader {
 public:
  IndexReader(const ChunkIndexSource& source, StoreMap& store, const std::filesystem::path& file)
      : source_(source), store_(store), file_(file) {}

  bool run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw dataset_error(file_, store_.name + " " + what + "; the file is damaged: rebuild it with load_data");
  }
  bool undefined(uint64_t address) const {
    return source_.address_bytes >= 8 ? address == ~uint64_t(0) : address == (uint64_t(1) << (8 * source_.address_bytes)) - 1;
  }
  std::vector<uint8_t> read(uint64_t address, uint64_t bytes, const char* what) const;
  std::vector<uint8_t> layout_message();
  void scan_block(const std::vector<uint8_t>& block, size_t at, size_t end, bool v2, unsigned header_flags);
  uint64_t btree_address(const std::vector<uint8_t>& layout) const;
  void walk(uint64_t root);
  void add_chunk(const uint8_t* key, uint64_t address);

  const ChunkIndexSource& source_;
  StoreMap& store_;
  const std::filesystem::path& file_;
  std::vector<std::pair<uint64_t, uint64_t>> continuations_;  // blocks still to scan
  std::vector<uint8_t> layout_;
  bool layout_found_ = false;
  std::vector<bool> filled_;
};

// Little-endian unsigned integer of `bytes` bytes.
uint64_t decode(const uint8_t* at, unsigned bytes) {
  uint64_t value = 0;
  for (unsigned b = 0; b < bytes; ++b) value |= uint64_t(at[b]) << (8 * b);
  return value;
}

std::vector<uint8_t> IndexReader::read(uint64_t address, uint64_t bytes, const char* what) const {
  const uint64_t size = source_.file_bytes, base = source_.base_address;
  if (undefined(address) || address > size || base > size - address || bytes > size - address - base) {
    fail(std::string("has its ") + what + " outside the file");
  }
  std::vector<uint8_t> out(static_cast<size_t>(bytes));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = ::pread(source_.file_descriptor, out.data() + done, out.size() - done,
                                static_cast<off_t>(base + address + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fail(std::string("cannot read its ") + what);
    done += static_cast<size_t>(got);
  }
  return out;
}

// Scans the messages of one header block [at, end): version 1 messages are 8-byte aligned with an
// 8-byte header; version 2 ones have a 4-byte header (6 with creation order) and end in a gap.
void IndexReader::scan_block(const std::vector<uint8_t>& block, size_t at, size_t end, bool v2, unsigned header_flags) {
  const size_t header = v2 ? ((header_flags & 0x04) ? 6 : 4) : 8;
  while (end - at >= header && !layout_found_) {
    const unsigned type = v2 ? block[at] : unsigned(decode(&block[at], 2));
    const size_t size = static_cast<size_t>(decode(&block[at + (v2 ? 1 : 2)], 2));
    at += header;
    if (size > end - at) fail("has an object header message longer than its block");
    if (type == kLayoutMessage) {
      layout_.assign(block.begin() + static_cast<std::ptrdiff_t>(at), block.begin() + static_cast<std::ptrdiff_t>(at + size));
      layout_found_ = true;
    } else if (type == kContinuationMessage) {
      if (size < source_.address_bytes + source_.length_bytes) fail("has a short continuation message");
      continuations_.emplace_back(decode(&block[at], source_.address_bytes),
                                  decode(&block[at + source_.address_bytes], source_.length_bytes));
    }
    at += size;
  }
}

// The dataset's layout message, from its object header (version 1 or 2) and its continuation blocks.
std::vector<uint8_t> IndexReader::layout_message() {
  const std::vector<uint8_t> prefix = read(source_.header_address, 16, "object header");
  bool v2 = std::memcmp(prefix.data(), "OHDR", 4) == 0;
  unsigned flags = 0;
  if (v2) {
    if (prefix[4] != 2) fail("has an object header of unknown version");
    flags = prefix[5];
    size_t at = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const unsigned width = 1u << (flags & 0x03);
    const std::vector<uint8_t> head = read(source_.header_address, at + width, "object header");
    const uint64_t size = decode(&head[at], width);
    at += width;
    if (size > kMaxBlockBytes) fail("has an object header block of more than 1 MiB");
    const std::vector<uint8_t> block = read(source_.header_address, at + size, "object header");
    scan_block(block, at, block.size(), true, flags);
  } else {
    if (prefix[0] != 1) fail("has an object header of unknown version");
    const uint64_t size = decode(&prefix[8], 4);
    if (size > kMaxBlockBytes) fail("has an object header block of more than 1 MiB");
    const std::vector<uint8_t> block = read(source_.header_address, 16 + size, "object header");
    scan_block(block, 16, block.size(), false, 0);
  }
  for (int blocks = 0; !layout_found_ && !continuations_.empty(); ++blocks) {
    if (blocks == kMaxHeaderBlocks) fail("has an object header of more than 64 blocks");
    const auto [address, length] = continuations_.back();
    continuations_.pop_back();
    if (length > kMaxBlockBytes) fail("has an object header block of more than 1 MiB");
    const std::vector<uint8_t> block = read(address, length, "object header");
    if (!v2) {
      scan_block(block, 0, block.size(), false, 0);
    } else {
      // "OCHK", the messages, then a 4-byte checksum.
      if (block.size() < 8 || std::memcmp(block.data(), "OCHK", 4) != 0) fail("has a damaged object header continuation");
      scan_block(block, 4, block.size() - 4, true, flags);
    }
  }
  if (!layout_found_) fail("has no layout message in its object header");
  return layout_;
}

// The B-tree's address from a chunked layout message of version 3 (HDF5 1.6.3 and later; 0 for the
// others: version 4 indexes chunks otherwise, and HDF5 locates those of versions 1 and 2), its chunk
// dimensions checked against what HDF5 reported.
uint64_t IndexReader::btree_address(const std::vector<uint8_t>& layout) const {
  if (layout.size() < 3) fail("has a short layout message");
  if (layout[0] != 3) return 0;
  if (layout[1] != 2) fail("has a layout message that is not chunked");
  const unsigned dimensions = layout[2];
  size_t at = 3;
  const int rank = store_.rank;
  if (dimensions != unsigned(rank) + 1) fail("has a layout message of another rank");
  if (layout.size() < at + source_.address_bytes + 4 * size_t(dimensions)) fail("has a short layout message");
  const uint64_t address = decode(&layout[at], source_.address_bytes);
  at += source_.address_bytes;
  for (int d = 0; d < rank; ++d) {
    if (decode(&layout[at + 4 * size_t(d)], 4) != store_.chunk[d]) fail("has a layout message of other chunks");
  }
  return address;
}

// One leaf entry: the key (stored size, filter mask, the chunk's element offsets) and its address.
void IndexReader::add_chunk(const uint8_t* key, uint64_t address) {
  const uint64_t stored = decode(key, 4);
  const uint32_t mask = static_cast<uint32_t>(decode(key + 4, 4));
  uint64_t index = 0;
  for (int d = 0; d < 4; ++d) {
    const uint64_t offset = d < store_.rank ? decode(key + 8 + 8 * size_t(d), 8) : 0;
    if (offset % store_.chunk[d] != 0 || offset / store_.chunk[d] >= store_.grid(d)) {
      fail("has a chunk index entry outside its extent");
    }
    index = index * store_.grid(d) + offset / store_.chunk[d];
  }
  if (filled_[index]) fail("has two chunk index entries for one chunk");
  filled_[index] = true;
  store_.chunks[index] = {address, stored, mask};
}

// Every node once, each level one below its parent's; leaves give the chunks.
void IndexReader::walk(uint64_t root) {
  const unsigned sa = source_.address_bytes;
  const size_t key_bytes = 8 + 8 * (size_t(store_.rank) + 1);
  std::vector<std::pair<uint64_t, int>> pending = {{root, -1}};
  std::unordered_set<uint64_t> visited;
  const size_t max_nodes = store_.chunks.size() + 64;
  while (!pending.empty()) {
    const auto [address, level_wanted] = pending.back();
    pending.pop_back();
    if (!visited.insert(address).second) fail("has a chunk index with a cycle");
    if (visited.size() > max_nodes) fail("has a chunk index of more nodes than chunks");
    const std::vector<uint8_t> head = read(address, 8 + 2 * size_t(sa), "chunk index");
    if (std::memcmp(head.data(), "TREE", 4) != 0 || head[4] != 1) fail("has a chunk index node of another kind");
    const int level = head[5];
    const size_t entries = static_cast<size_t>(decode(&head[6], 2));
    if ((level_wanted >= 0 && level != level_wanted) || level > kMaxTreeLevels) fail("has a chunk index of inconsistent levels");
    const std::vector<uint8_t> body =
        read(address + head.size(), entries * (key_bytes + sa) + key_bytes, "chunk index");
    for (size_t i = 0; i < entries; ++i) {
      const uint8_t* key = &body[i * (key_bytes + sa)];
      const uint64_t child = decode(key + key_bytes, sa);
      if (level > 0) pending.emplace_back(child, level - 1);
      else add_chunk(key, child);
    }
  }
}

bool IndexReader::run() {
  const uint64_t root = btree_address(layout_message());
  if (root == 0) return false;  // not version 3: HDF5 locates its chunks
  filled_.assign(store_.chunks.size(), false);
  if (!undefined(root)) walk(root);  // an undefined root: no chunk written
  return true;
}

}  // namespace

bool read_btree_chunk_index(const ChunkIndexSource& source, StoreMap& store, const std::filesystem::path& file) {
  if (source.address_bytes < 2 || source.address_bytes > 8 || source.length_bytes < 2 || source.length_bytes > 8) {
    throw dataset_error(file, store.name + " uses addresses of " + std::to_string(source.address_bytes) +
                                  " bytes, which deepzine does not read");
  }
  std::vector<ChunkLocation> saved = store.chunks;
  IndexReader reader(source, store, file);
  if (reader.run()) return true;
  store.chunks = std::move(saved);
  return false;
}

}  // namespace deepzine::data
