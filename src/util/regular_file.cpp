#include "deepzine/util/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace deepzine::util {
namespace fs = std::filesystem;
namespace {

std::runtime_error failure(const std::string& what, const fs::path& file, const std::string& problem) {
  return std::runtime_error(what + " " + file.string() + " " + problem);
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever; it is refused right after.
int open_regular(const fs::path& file, const std::string& what, uint64_t& size) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw failure(what, file, std::string("cannot be opened: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const mode_t mode = st.st_mode;
    ::close(fd);
    throw failure(what, file, std::string("is ") + kind_of(mode) + ", not a regular file; point the setting at a file");
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

void read_fully(int fd, uint64_t offset, char* out, uint64_t bytes, const std::string& what, const fs::path& file) {
  uint64_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw failure(what, file, std::string("cannot be read: ") + std::strerror(errno));
    if (n == 0) throw failure(what, file, "ended early (truncated while being read?)");
    done += static_cast<uint64_t>(n);
  }
}

}  // namespace

std::string read_regular_file(const fs::path& file, uint64_t max_bytes, const std::string& what) {
  uint64_t size = 0;
  const int fd = open_regular(file, what, size);
  if (size > max_bytes) {
    ::close(fd);
    throw failure(what, file, "is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                                  " such a file can be; is it the right file?");
  }
  std::string bytes(size, '\0');
  try {
    read_fully(fd, 0, bytes.data(), size, what, file);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return bytes;
}

void require_regular_file(const fs::path& file, const std::string& what) {
  uint64_t size = 0;
  ::close(open_regular(file, what, size));
}

RegularFile::RegularFile(const fs::path& file, const std::string& what) : path_(file), what_(what) {
  fd_ = open_regular(file, what, size_);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RegularFile::read_at(uint64_t offset, void* out, uint64_t bytes) const {
  if (offset > size_ || bytes > size_ - offset) {
    throw failure(what_, path_, "is " + std::to_string(size_) + " bytes; a read of " + std::to_string(bytes) +
                                    " at offset " + std::to_string(offset) + " runs past its end");
  }
  read_fully(fd_, offset, static_cast<char*>(out), bytes, what_, path_);
}

}  // namespace deepzine::util
