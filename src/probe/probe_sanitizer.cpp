#include "probe_sanitizer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEEPZINE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define DEEPZINE_ASAN 1
#endif
#ifdef DEEPZINE_ASAN
#include <sanitizer/allocator_interface.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace deepzine::probe::sanitizer {
namespace {

constexpr int kOwnCodeError = 97;    // a sanitizer report against this project's code (or unknown)
constexpr int kHdf5MemoryError = 98; // an AddressSanitizer report against HDF5's own code

// The text of stack frame `index` of a sanitizer report ("    #1 0x7f.. in H5O_... (/lib/...)").
std::string frame(const char* report, int index) {
  const std::string tag = "#" + std::to_string(index) + " 0x";
  const char* at = std::strstr(report, tag.c_str());
  if (!at) return {};
  const char* end = std::strchr(at, '\n');
  return end ? std::string(at, end) : std::string(at);
}

#ifdef DEEPZINE_ASAN
constexpr int kHeapBoundExceeded = 99;  // the child's heap grew past its bound (see bound_child_heap)

void on_asan_report(const char* report) { _exit(report_is_against_hdf5(report) ? kHdf5MemoryError : kOwnCodeError); }

// The child's heap, counted by the sanitizer's allocation hooks (the child is single-threaded).
int64_t heap_bytes = 0, heap_limit = INT64_MAX;
void on_malloc(const volatile void*, size_t size) {
  heap_bytes += static_cast<int64_t>(size);
  if (heap_bytes > heap_limit) _exit(kHeapBoundExceeded);
}
void on_free(const volatile void* pointer) {
  if (pointer) heap_bytes -= static_cast<int64_t>(__sanitizer_get_allocated_size(pointer));
}
#endif

}  // namespace

void prepare_child() {
#ifdef DEEPZINE_ASAN
  // HDF5's crashes die by their signal, as without a sanitizer, instead of printing a report (and
  // starting a symbolizer) for a crash the parent reports anyway. SIGABRT too: glibc's fortified
  // memcpy aborts inside HDF5 on some damaged virtual datasets ("*** buffer overflow detected ***",
  // found with the format-2 seed), and libFuzzer's handler, inherited over the fork, saved each such
  // input as a crash of the run although the parent had contained it.
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(signal_number, SIG_DFL);
  // A report (printed, for the log) ends the child with a status naming whose code erred; the fuzzer's
  // own death callback (saving the input as a crash of the run) is not the child's to call.
  __asan_set_error_report_callback(on_asan_report);
  __sanitizer_set_death_callback([] { _exit(kOwnCodeError); });  // UBSan's reports end here
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
}

void bound_child_heap(uint64_t file_size) {
#ifdef DEEPZINE_ASAN
  heap_limit = heap_bytes + (int64_t{32} << 20) + static_cast<int64_t>(std::min<uint64_t>(file_size, INT64_MAX / 4));
#else
  (void)file_size;
#endif
}

std::string judge_child_death(int status, const std::filesystem::path& file) {
#ifdef DEEPZINE_ASAN
  if (WIFEXITED(status) && WEXITSTATUS(status) == kOwnCodeError) {
    std::fprintf(stderr, "deepzine: the HDF5 probe's child found a memory error or undefined behaviour in this "
                 "project's own code while walking %s (its report is above)\n", file.c_str());
    __builtin_trap();
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == kHdf5MemoryError) return "a memory error inside HDF5";
  if (WIFEXITED(status) && WEXITSTATUS(status) == kHeapBoundExceeded) return "its heap grew past its bound";
#else
  (void)status;
  (void)file;
#endif
  return {};
}

bool report_is_against_hdf5(const char* report) {
  const std::string top = frame(report, 0), below = frame(report, 1);
  if (top.find(" in deepzine::") != std::string::npos) return false;
  return top.find("libhdf5") != std::string::npos || below.find("libhdf5") != std::string::npos;
}

}  // namespace deepzine::probe::sanitizer
