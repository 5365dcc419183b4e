#pragma once
// Reader of TensorFlow 1.x "V2" checkpoints (what the original DeepZine's tf.train.Saver wrote):
//   <prefix>.index                 an SSTable (LevelDB table format) mapping tensor names to
//                                  BundleEntryProto (dtype, shape, shard, offset, size, crc32c);
//                                  the empty key holds the BundleHeaderProto (shard count, endianness)
//   <prefix>.data-0000S-of-0000N   the raw little-endian tensor bytes
// Every block and every tensor is crc32c-verified. Protobuf is parsed by hand (a few varint fields) so
// that no protobuf dependency is needed. Torch-free: the legacy generator converts to tensors.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace deepzine::sample {

struct TfTensorEntry {
  int dtype = 0;  // tensorflow DataType: 1 = DT_FLOAT, 9 = DT_INT64, ...
  std::vector<int64_t> shape;
  int shard = 0;
  int64_t offset = 0, size = 0;
  uint32_t crc32c = 0;  // masked, as TensorFlow stores it
};

class TfCheckpoint {
 public:
  // `path`: a checkpoint prefix ("dir/model.ckpt"), its ".index" file, or a folder holding a
  // "checkpoint" state file (model_checkpoint_path) or a single model.ckpt.index.
  // Throws std::runtime_error naming the file on anything missing, truncated or corrupt.
  explicit TfCheckpoint(const std::filesystem::path& path);

  const std::map<std::string, TfTensorEntry>& entries() const { return entries_; }
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  const TfTensorEntry& entry(const std::string& name) const;
  // Float32 tensor, row-major in the stored (TensorFlow) layout; the bytes are crc32c-checked.
  std::vector<float> read_float(const std::string& name) const;
  const std::filesystem::path& prefix() const { return prefix_; }

 private:
  std::filesystem::path prefix_;
  int num_shards_ = 1;
  std::map<std::string, TfTensorEntry> entries_;
};

// crc32c (Castagnoli) and LevelDB/TensorFlow's masking of stored checksums.
uint32_t crc32c(const void* data, size_t n, uint32_t init = 0);
inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

// Resolves a checkpoint folder/prefix/index path to the prefix (no existence checks beyond what is
// needed to pick one); lists what it tried in the exception.
std::filesystem::path resolve_tf_checkpoint_prefix(const std::filesystem::path& path);

}  // namespace deepzine::sample
