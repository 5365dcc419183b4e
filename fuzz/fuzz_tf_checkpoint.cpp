// The TensorFlow checkpoint reader (SSTable index + data shard). Input: 2 bytes little-endian index
// length L, then L bytes of model.ckpt.index, then the data shard.
#include <cstdint>
#include <stdexcept>

#include "deepzine/sample/tf_checkpoint.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t index_size = std::min<size_t>(size - 2, data[0] | (data[1] << 8));
  const auto index = deepzine::fuzz::scratch_file("model.ckpt.index", data + 2, index_size);
  deepzine::fuzz::scratch_file("model.ckpt.data-00000-of-00001", data + 2 + index_size, size - 2 - index_size);
  try {
    deepzine::sample::TfCheckpoint checkpoint(index);
    for (const auto& [name, entry] : checkpoint.entries()) {
      try {
        checkpoint.read_float(name);
      } catch (const std::runtime_error&) {
      }
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
