#include "hdf5_probe.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>

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

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("signal ") + std::to_string(WTERMSIG(status)) + ": " + strsignal(WTERMSIG(status));
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "stopped";
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
  const pid_t pid = fork();
  if (pid < 0) return;  // no process to spare: read it directly, as before
  if (pid == 0) {
#ifdef DEEPZINE_ASAN
    // Under a fuzzer, the child's crash is the finding this guards against, not a crash of the run.
    __sanitizer_set_death_callback(nullptr);
#endif
    int code = kWalked;
    try {
      walk();
    } catch (...) {
      code = kWalkThrew;
    }
    _exit(code);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool finished = WIFEXITED(status) && (WEXITSTATUS(status) == kWalked || WEXITSTATUS(status) == kWalkThrew);
  if (!finished) {
    throw std::runtime_error("dataset " + file.string() + ": makes the HDF5 library crash when read (" +
                             describe(status) + "): the file is damaged or not a page file; rebuild it with "
                             "load_data (overwrite: True)");
  }
  std::lock_guard<std::mutex> lock(mutex);
  probed.insert(key);
}

}  // namespace deepzine::data
