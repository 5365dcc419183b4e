#pragma once
// Reading files named by the user or by another file, which may be anything: a device (/dev/zero
// reads forever), a FIFO (blocks forever), a folder. Only regular files are opened, without
// blocking, and never read past the size they had when opened or a caller's limit.
#include <cstdint>
#include <filesystem>
#include <string>

namespace deepzine::util {

// The whole file. `what` names it in errors ("checkpoint", "latent file (inference_input_latent)").
// Throws std::runtime_error when it is not a regular file, is larger than `max_bytes`, or cannot be
// read in full.
std::string read_regular_file(const std::filesystem::path& file, uint64_t max_bytes, const std::string& what);

// Throws (as above) unless `file` is a regular file (symbolic links to one are fine): for files a
// library opens itself (HDF5).
void require_regular_file(const std::filesystem::path& file, const std::string& what);

// A regular file opened for reads at offsets (TensorFlow data shards).
class RegularFile {
 public:
  RegularFile(const std::filesystem::path& file, const std::string& what);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  uint64_t size() const { return size_; }
  // Exactly `bytes` bytes at `offset`; throws naming the file when they are not all there.
  void read_at(uint64_t offset, void* out, uint64_t bytes) const;

 private:
  std::filesystem::path path_;
  std::string what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace deepzine::util
