#include "deepzine/util/atomic_file.h"

#include "deepzine/util/fd_write.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <limits>
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

namespace {
// True when the pid spelled at `digits` (a temporary's name from its pid on) runs no process now;
// `after` gets where the digits end.
bool left_by_a_dead_process(const char* digits, const char** after = nullptr) {
  char* end = nullptr;
  errno = 0;
  const long pid = std::strtol(digits, &end, 10);
  if (after) *after = end;
  if (end == digits || errno != 0 || pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return false;  // not ours
  return pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

template <typename Select>
std::vector<fs::path> remove_in(const fs::path& folder, Select select) {
  std::vector<fs::path> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    std::error_code remove_error;
    if (select(entry.path().filename().string()) && entry.is_regular_file(remove_error) &&
        fs::remove(entry.path(), remove_error))
      removed.push_back(entry.path());
  }
  return removed;
}
}  // namespace

std::vector<fs::path> remove_stale_temporaries(const fs::path& final_path) {
  const std::string prefix = final_path.filename().string() + kTempMarker;
  return remove_in(final_path.has_parent_path() ? final_path.parent_path() : fs::path("."), [&](const std::string& name) {
    return name.rfind(prefix, 0) == 0 && left_by_a_dead_process(name.c_str() + prefix.size());
  });
}

std::vector<fs::path> remove_stale_temporaries_in(const fs::path& folder) {
  return remove_in(folder, [](const std::string& name) {
    const size_t marker = name.rfind(kTempMarker);
    if (marker == std::string::npos || marker == 0) return false;
    const char* after = nullptr;
    if (!left_by_a_dead_process(name.c_str() + marker + std::strlen(kTempMarker), &after) || *after != '-') return false;
    return after[1] != '\0' && std::strspn(after + 1, "0123456789") == std::strlen(after + 1);  // "-<n>" ends it
  });
}

}  // namespace deepzine::util
