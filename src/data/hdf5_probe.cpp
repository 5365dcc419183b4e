#include "hdf5_probe.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>

#include "deepzine/util/child_process.h"
#include "deepzine/util/fd_write.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEEPZINE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define DEEPZINE_ASAN 1
#endif
#ifdef DEEPZINE_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace deepzine::data {
namespace {

constexpr int kWalked = 0, kWalkThrew = 2;  // the child's exit codes; anything else is a crash
constexpr size_t kMaxMessage = 4096;         // of a walk's error, sent back by the child

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("signal ") + std::to_string(WTERMSIG(status)) + ": " + strsignal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}

// The child's address space so far (from /proc/self/statm), 0 if unknown.
uint64_t address_space_bytes() {
  unsigned long pages = 0;
  if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%lu", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// A damaged file can make HDF5 allocate what it declares before checking it against the file (fuzz
// found a superblock that makes H5F__super_read realloc 4 GiB). The walk reads only the file's index,
// never more than the file holds: the child may grow by 1 GiB plus the file's size, no more. A refused
// allocation is an HDF5 error, which the walk reports like any other.
void bound_child_memory(off_t file_size) {
  const uint64_t now = address_space_bytes();
  if (now == 0) return;
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0) return;
  const uint64_t wanted = now + (uint64_t{1} << 30) + static_cast<uint64_t>(file_size);
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) return;  // already bounded tighter
  limit.rlim_cur = wanted;
  setrlimit(RLIMIT_AS, &limit);
}

std::string read_all(int fd) {
  std::string text;
  char buffer[512];
  while (text.size() < kMaxMessage) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text.substr(0, kMaxMessage);
}

[[noreturn]] void run_child(int message_fd, off_t file_size, const std::function<void()>& walk) {
  util::disable_core_dumps();
#ifdef DEEPZINE_ASAN
  // Under a fuzzer, the child's crash is the finding this guards against, not a crash of the run.
  __sanitizer_set_death_callback(nullptr);
  // HDF5's own crashes die by their signal, as without a sanitizer, instead of printing a sanitizer
  // report (and starting a symbolizer) for a crash the parent reports anyway. Memory errors that the
  // sanitizer detects in instrumented code are still printed.
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(signal_number, SIG_DFL);
#endif
  bound_child_memory(file_size);
  int code = kWalked;
  try {
    walk();
  } catch (const std::exception& e) {
    const std::string message = e.what();
    util::write_fully(message_fd, message.data(), message.size());
    code = kWalkThrew;
  } catch (...) {
    code = kWalkThrew;
  }
  _exit(code);
}

}  // namespace

void probe_in_child(const std::filesystem::path& file, const std::function<void()>& walk) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return;  // the caller's own open reports it
  using Key = std::tuple<std::string, off_t, time_t, long>;
  static std::mutex mutex;
  static std::set<Key> probed;
  const Key key{file.string(), st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (probed.count(key)) return;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return;  // no descriptors to spare: read it directly, as before
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return;  // no process to spare: read it directly, as before
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    run_child(pipe_fds[1], st.st_size, walk);
  }
  ::close(pipe_fds[1]);
  const std::string message = read_all(pipe_fds[0]);
  ::close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kWalkThrew) {
    // The walk's own error (it names the file), from the child: this process does not walk a file
    // that failed there, whose declared sizes may be what made it fail.
    if (!message.empty()) throw std::runtime_error(message);
    throw std::runtime_error("dataset " + file.string() + ": cannot be read as a page file; rebuild it with "
                             "load_data (overwrite: True)");
  }
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == kWalked)) {
    throw std::runtime_error("dataset " + file.string() + ": makes the HDF5 library crash when read (" +
                             describe(status) + "): the file is damaged or not a page file; rebuild it with "
                             "load_data (overwrite: True)");
  }
  std::lock_guard<std::mutex> lock(mutex);
  probed.insert(key);
}

}  // namespace deepzine::data
