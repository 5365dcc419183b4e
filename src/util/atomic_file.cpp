#include "deepzine/util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
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
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + file.temp_path().string());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("write failed for " + path.string() + " (disk full?)");
  }
  file.commit();
}

bool is_atomic_temp_name(const fs::path& path) {
  return path.filename().string().find(kTempMarker) != std::string::npos;
}

}  // namespace deepzine::util
