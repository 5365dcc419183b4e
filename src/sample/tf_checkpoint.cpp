#include "deepzine/sample/tf_checkpoint.h"

#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "deepzine/util/regular_file.h"
#include <stdexcept>

namespace deepzine::sample {
namespace fs = std::filesystem;

namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;  // Castagnoli, reflected
      t[i] = c;
    }
    return t;
  }();
  return table;
}

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error("TensorFlow checkpoint " + file.string() + ": " + what +
                           " (the file is truncated or corrupt; copy the checkpoint again)");
}

// Bounds-checked cursor over bytes; every read failure names the file.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  const fs::path* file;
  bool done() const { return p >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail(*file, "varint runs past the end of its record");
      const uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(*file, "varint longer than 10 bytes");
  }
  uint32_t fixed32() {
    if (end - p < 4) fail(*file, "fixed32 runs past the end of its record");
    uint32_t v = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    p += 4;
    return v;
  }
  Cursor bytes(uint64_t n) {
    if (static_cast<uint64_t>(end - p) < n) fail(*file, "length-delimited field runs past the end of its record");
    Cursor c{p, p + n, file};
    p += n;
    return c;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: bytes(8); break;
      case 2: bytes(varint()); break;
      case 5: bytes(4); break;
      default: fail(*file, "unknown protobuf wire type " + std::to_string(wire_type));
    }
  }
};

std::string read_all(const fs::path& file) {
  return util::read_regular_file(file, uint64_t(4) << 30, "TensorFlow checkpoint index");
}

struct BlockHandle {
  uint64_t offset = 0, size = 0;
};

// An SSTable block with its 5-byte trailer (compression type, masked crc32c of data + type).
Cursor read_block(const std::string& table, BlockHandle h, const fs::path& file) {
  if (h.offset > table.size() || h.size + 5 > table.size() - h.offset) fail(file, "block past the end of the file");
  const auto* base = reinterpret_cast<const uint8_t*>(table.data()) + h.offset;
  const uint8_t type = base[h.size];
  Cursor trailer{base + h.size + 1, base + h.size + 5, &file};
  const uint32_t stored = trailer.fixed32();
  const uint32_t actual = crc32c(base + h.size, 1, crc32c(base, h.size));
  if (crc32c_mask(actual) != stored) fail(file, "block crc32c mismatch at offset " + std::to_string(h.offset));
  if (type != 0) {
    throw std::runtime_error("TensorFlow checkpoint " + file.string() +
                             " uses compressed index blocks (type " + std::to_string(type) +
                             "), which are not supported");
  }
  return Cursor{base, base + h.size, &file};
}

// Calls fn(key, value) for every entry of a block (prefix-compressed keys, restart array at the end).
template <typename Fn>
void for_each_entry(Cursor block, const fs::path& file, Fn fn) {
  if (block.end - block.p < 4) fail(file, "block too small");
  Cursor tail{block.end - 4, block.end, &file};
  const uint64_t restarts = tail.fixed32();
  if (restarts * 4 + 4 > static_cast<uint64_t>(block.end - block.p)) fail(file, "bad restart count");
  Cursor c{block.p, block.end - 4 * (restarts + 1), &file};
  std::string key;
  while (!c.done()) {
    const uint64_t shared = c.varint(), non_shared = c.varint(), value_len = c.varint();
    if (shared > key.size()) fail(file, "key prefix longer than the previous key");
    Cursor delta = c.bytes(non_shared);
    key.resize(shared);
    key.append(reinterpret_cast<const char*>(delta.p), non_shared);
    fn(key, c.bytes(value_len));
  }
}

BlockHandle parse_handle(Cursor& c) {
  BlockHandle h;
  h.offset = c.varint();
  h.size = c.varint();
  return h;
}

std::vector<int64_t> parse_shape(Cursor c) {
  std::vector<int64_t> shape;
  while (!c.done()) {
    const uint64_t tag = c.varint();
    if (tag >> 3 == 2 && (tag & 7) == 2) {  // repeated Dim dim = 2
      Cursor dim = c.bytes(c.varint());
      int64_t size = 0;
      while (!dim.done()) {
        const uint64_t t = dim.varint();
        if (t >> 3 == 1 && (t & 7) == 0) size = static_cast<int64_t>(dim.varint());
        else dim.skip(static_cast<int>(t & 7));
      }
      shape.push_back(size);
    } else if (tag >> 3 == 3 && (tag & 7) == 0) {
      if (c.varint() != 0) fail(*c.file, "tensor of unknown rank");
    } else {
      c.skip(static_cast<int>(tag & 7));
    }
  }
  return shape;
}

TfTensorEntry parse_entry(Cursor c, const std::string& name) {
  TfTensorEntry e;
  while (!c.done()) {
    const uint64_t tag = c.varint();
    const int field = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    if (field == 1 && wire == 0) e.dtype = static_cast<int>(c.varint());
    else if (field == 2 && wire == 2) e.shape = parse_shape(c.bytes(c.varint()));
    else if (field == 3 && wire == 0) e.shard = static_cast<int>(c.varint());
    else if (field == 4 && wire == 0) e.offset = static_cast<int64_t>(c.varint());
    else if (field == 5 && wire == 0) e.size = static_cast<int64_t>(c.varint());
    else if (field == 6 && wire == 5) e.crc32c = c.fixed32();
    else if (field == 7) {
      throw std::runtime_error("TensorFlow checkpoint " + c.file->string() + ": tensor " + name +
                               " is partitioned into slices, which is not supported");
    } else c.skip(wire);
  }
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t init) {
  const auto& t = crc_table();
  uint32_t c = init ^ 0xffffffffu;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

fs::path resolve_tf_checkpoint_prefix(const fs::path& path) {
  const std::string s = path.string();
  const std::string idx = ".index";
  if (s.size() > idx.size() && s.compare(s.size() - idx.size(), idx.size(), idx) == 0) {
    return fs::path(s.substr(0, s.size() - idx.size()));
  }
  if (!fs::is_directory(path)) return path;
  // tf.train.Saver's state file names the latest checkpoint; fall back to model.ckpt.
  std::istringstream state(fs::is_regular_file(path / "checkpoint")
                               ? util::read_regular_file(path / "checkpoint", 1 << 20, "TensorFlow checkpoint state file")
                               : std::string());
  std::string line;
  while (std::getline(state, line)) {
    const std::string key = "model_checkpoint_path:";
    if (line.rfind(key, 0) != 0) continue;
    const auto a = line.find('"'), b = line.rfind('"');
    if (a != std::string::npos && b > a) {
      fs::path p = line.substr(a + 1, b - a - 1);
      // Always inside the folder: an absolute path written on the training machine (or pointing
      // anywhere else) is not followed; its file name is looked up here, as TF does for relative ones.
      return path / p.filename();
    }
  }
  return path / "model.ckpt";
}

TfCheckpoint::TfCheckpoint(const fs::path& path) : prefix_(resolve_tf_checkpoint_prefix(path)) {
  const fs::path index = prefix_.string() + ".index";
  if (!fs::exists(index)) {
    throw std::runtime_error("no TensorFlow checkpoint at " + path.string() + " (looked for " + index.string() + ")");
  }
  const std::string table = read_all(index);
  constexpr size_t kFooter = 48;
  if (table.size() < kFooter) fail(index, "shorter than an SSTable footer");
  const auto* foot = reinterpret_cast<const uint8_t*>(table.data()) + table.size() - kFooter;
  uint64_t magic = 0;
  std::memcpy(&magic, foot + 40, 8);  // little-endian hosts only, as LibTorch itself
  if (magic != 0xdb4775248b80fb57ull) fail(index, "not an SSTable (bad magic number)");
  Cursor fc{foot, foot + 40, &index};
  const BlockHandle meta_handle = parse_handle(fc);
  const BlockHandle index_handle = parse_handle(fc);
  read_block(table, meta_handle, index);  // unused by TensorFlow bundles, but checked: any flip is an error

  bool have_header = false;
  for_each_entry(read_block(table, index_handle, index), index, [&](const std::string&, Cursor v) {
    const BlockHandle data = parse_handle(v);
    for_each_entry(read_block(table, data, index), index, [&](const std::string& key, Cursor value) {
      if (key.empty()) {  // BundleHeaderProto: num_shards = 1, endianness = 2
        have_header = true;
        while (!value.done()) {
          const uint64_t tag = value.varint();
          if (tag == (1 << 3)) num_shards_ = static_cast<int>(value.varint());
          else if (tag == (2 << 3)) {
            if (value.varint() != 0) fail(index, "big-endian checkpoints are not supported");
          } else value.skip(static_cast<int>(tag & 7));
        }
      } else {
        entries_[key] = parse_entry(value, key);
      }
    });
  });
  if (!have_header) fail(index, "no bundle header");
  for (const auto& [name, e] : entries_) {
    if (e.shard < 0 || e.shard >= num_shards_) fail(index, "tensor " + name + " names a shard that does not exist");
  }
}

const TfTensorEntry& TfCheckpoint::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    throw std::runtime_error("TensorFlow checkpoint " + prefix_.string() + " has no tensor " + name);
  }
  return it->second;
}

std::vector<float> TfCheckpoint::read_float(const std::string& name) const {
  const TfTensorEntry& e = entry(name);
  if (e.dtype != 1) {
    throw std::runtime_error("TensorFlow checkpoint " + prefix_.string() + ": tensor " + name + " has dtype " +
                             std::to_string(e.dtype) + ", not float32");
  }
  int64_t count = 1;
  for (int64_t d : e.shape) {
    if (d < 0 || (d > 0 && count > (int64_t(1) << 40) / d)) fail(prefix_, "tensor " + name + " has an impossible shape");
    count *= d;
  }
  if (count * 4 != e.size) fail(prefix_, "tensor " + name + " has " + std::to_string(e.size) + " bytes for its shape");
  char shard_name[32];
  std::snprintf(shard_name, sizeof shard_name, ".data-%05d-of-%05d", e.shard, num_shards_);
  const fs::path data = prefix_.string() + shard_name;
  const util::RegularFile shard(data, "TensorFlow checkpoint data file");
  if (e.offset < 0 || e.size < 0 || static_cast<uint64_t>(e.offset) > shard.size() ||
      static_cast<uint64_t>(e.size) > shard.size() - static_cast<uint64_t>(e.offset)) {
    fail(data, "tensor " + name + " runs past the end of the file");
  }
  std::vector<float> out(static_cast<size_t>(count));
  shard.read_at(static_cast<uint64_t>(e.offset), out.data(), static_cast<uint64_t>(e.size));
  if (crc32c_mask(crc32c(out.data(), static_cast<size_t>(e.size))) != e.crc32c) {
    fail(data, "crc32c mismatch in tensor " + name);
  }
  return out;
}

}  // namespace deepzine::sample
