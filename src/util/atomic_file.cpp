#include "deepzine/util/atomic_file.h"

#include "deepzine/util/fd_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace deepzine::util {
namespace fs = std::filesystem;
namespace {
std::atomic<unsigned> g_counter{0};
const char kTempMarker[] = ".tmp-";

void fsync_path(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort: some filesystems refuse opening directories
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

AtomicFile::AtomicFile(fs::path final_path) : final_(std::move(final_path)) {
  if (final_.has_parent_path()) fs::create_directories(final_.parent_path());
  temp_ = final_;
  temp_ += std::string(kTempMarker) + std::to_string(::getpid()) + "-" +
           std::to_string(g_counter.fetch_add(1));
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::commit() {
  if (committed_) return;
  if (!fs::exists(temp_)) {
    throw std::runtime_error("cannot finish writing " + final_.string() + ": temporary file " +
                             temp_.string() + " was not written");
  }
  fsync_path(temp_, false);
  std::error_code ec;
  fs::rename(temp_, final_, ec);
  if (ec) {
    throw std::runtime_error("cannot rename " + temp_.string() + " to " + final_.string() + ": " +
                             ec.message());
  }
  committed_ = true;
  fsync_path(final_.has_parent_path() ? final_.parent_path() : fs::path("."), true);
}

void write_file_atomic(const fs::path& path, std::string_view bytes) {
  AtomicFile file(path);
  const fs::path& temp = file.temp_path();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(errno));
  if (!write_fully(fd, bytes.data(), bytes.size())) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("write failed for " + path.string() + ": " + std::strerror(err) +
                             (err == ENOSPC ? " (the disk is full; free space and rerun)" : ""));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    throw std::runtime_error("write failed for " + path.string() + ": " + std::strerror(errno));
  }
  // Verified before it counts: what is on disk is what was meant (a full disk, a flaky network
  // filesystem, a quota can each fail after write() said yes).
  std::ifstream back(temp, std::ios::binary);
  std::string read((std::istreambuf_iterator<char>(back)), std::istreambuf_iterator<char>());
  if (read.size() != bytes.size() || std::memcmp(read.data(), bytes.data(), bytes.size()) != 0) {
    throw std::runtime_error("write failed for " + path.string() + ": the file read back differs from what was written");
  }
  file.commit();
}

bool is_atomic_temp_name(const fs::path& path) {
  return path.filename().string().find(kTempMarker) != std::string::npos;
}

}  // namespace deepzine::util
