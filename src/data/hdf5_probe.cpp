#include "deepzine/data/hdf5_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "deepzine/util/child_process.h"
#include "probe_sanitizer.h"

namespace deepzine::data {
namespace {

// The child's replies: one packet, a code byte and for kWalkThrew the walk's error.
constexpr char kWalked = 0, kWalkThrew = 2;
constexpr size_t kMaxMessage = 4096;   // of a walk's error
constexpr size_t kMaxPath = 65536;     // of a request's path; a longer one is refused unprobed
constexpr int kWalksPerChild = 1000;   // a kept child is replaced after this many (HDF5's free lists grow)

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
// never more than the file holds: the child may grow by 1 GiB plus the file's size, no more (set again
// for each file a kept child walks). A refused allocation is an HDF5 error, reported like any other.
void bound_child_memory(uint64_t file_size) {
  probe_sanitizer::bound_child_heap(file_size);
  const uint64_t now = address_space_bytes();
  if (now == 0) return;
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0) return;
  const uint64_t wanted = now + (uint64_t{1} << 30) + file_size;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) return;  // already bounded tighter
  limit.rlim_cur = wanted;
  setrlimit(RLIMIT_AS, &limit);
}

// What the child sets up once: no core file, HDF5's crashes die by their signal (also under a
// sanitizer: probe_sanitizer.h), and no descriptor of the parent but its socket (a kept child holding
// the write end of someone's pipe would keep them from ever seeing its end).
void prepare_child(int socket_fd) {
  util::disable_core_dumps();
  probe_sanitizer::prepare_child();
  if (socket_fd > 3) close_range(3, static_cast<unsigned>(socket_fd) - 1, 0);
  close_range(static_cast<unsigned>(socket_fd) + 1, ~0U, 0);
}

// The reply to one request (the file's size, then its path): the walk's outcome.
std::string walk_one(const char* request, size_t length, ProbeWalk walk) {
  uint64_t file_size = 0;
  std::memcpy(&file_size, request, sizeof file_size);
  const std::filesystem::path file(std::string(request + sizeof file_size, length - sizeof file_size));
  bound_child_memory(file_size);
  try {
    walk(file);
    return std::string(1, kWalked);
  } catch (const std::exception& e) {
    return kWalkThrew + std::string(e.what()).substr(0, kMaxMessage);
  } catch (...) {
    return std::string(1, kWalkThrew);
  }
}

// The child: walks each file it is sent until the parent closes its end.
[[noreturn]] void serve(int socket_fd, ProbeWalk walk) {
  prepare_child(socket_fd);
  std::vector<char> request(sizeof(uint64_t) + kMaxPath);
  for (;;) {
    ssize_t length;
    do length = ::recv(socket_fd, request.data(), request.size(), 0);
    while (length < 0 && errno == EINTR);
    if (length < static_cast<ssize_t>(sizeof(uint64_t))) _exit(0);  // the parent's end is closed
    const std::string reply = walk_one(request.data(), static_cast<size_t>(length), walk);
    if (::send(socket_fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) _exit(0);
  }
}

// The parent's handle on a probe child.
struct ProbeChild {
  pid_t pid = -1;
  int socket = -1;
  ProbeWalk walk = nullptr;
  int walks = 0;
  pid_t owner = -1;  // the process that forked it (a forked render worker inherits this struct)

  bool running() const { return pid > 0 && owner == ::getpid(); }

  bool start(ProbeWalk walk_to_run) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return false;
    const pid_t child = fork();
    if (child < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return false;
    }
    if (child == 0) {
      ::close(fds[0]);
      serve(fds[1], walk_to_run);
    }
    ::close(fds[1]);
    pid = child, socket = fds[0], walk = walk_to_run, walks = 0, owner = ::getpid();
    return true;
  }

  // Closes the parent's end and waits for the child's exit; returns its status.
  int stop() {
    ::close(socket);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1, socket = -1;
    return status;
  }

  enum class Answer { kReplied, kDied, kTimedOut };

  // Sends the request and waits up to `limit` for the reply. A child that takes longer (HDF5 loops
  // forever on some damaged files: found by fuzz_page_file) is killed.
  Answer ask(const std::string& request, std::chrono::milliseconds limit, std::string& reply) {
    if (::send(socket, request.data(), request.size(), MSG_NOSIGNAL) < 0) return Answer::kDied;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd ready{socket, POLLIN, 0};
      const int polled = ::poll(&ready, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (polled > 0) break;
      if (polled < 0 && errno == EINTR) continue;
      ::kill(pid, SIGKILL);
      return Answer::kTimedOut;
    }
    std::vector<char> buffer(1 + kMaxMessage);
    ssize_t length;
    do length = ::recv(socket, buffer.data(), buffer.size(), 0);
    while (length < 0 && errno == EINTR);
    if (length <= 0) return Answer::kDied;
    reply.assign(buffer.data(), static_cast<size_t>(length));
    ++walks;
    return Answer::kReplied;
  }

  ~ProbeChild() {
    if (running()) stop();
  }
};

std::mutex probe_mutex;  // one probe at a time: the child, the set and the mode are shared
ProbeChild probe_child;
ProbeChildren children_mode = ProbeChildren::kOnePerFile;
std::chrono::milliseconds time_limit = kDefaultProbeTimeLimit;
using ProbedKey = std::tuple<std::string, dev_t, ino_t, off_t, time_t, long, time_t, long>;
std::set<ProbedKey> probed;

std::string seconds(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

[[noreturn]] void throw_crash(const std::filesystem::path& file, int status, bool timed_out) {
  if (timed_out) {
    throw std::runtime_error("dataset " + file.string() + ": the HDF5 library did not finish reading its index in " +
                             seconds(time_limit) + " s: the file is damaged "
                             "or not a page file; rebuild it with load_data (overwrite: True)");
  }
  std::string how = probe_sanitizer::judge_child_death(status, file);
  if (how.empty()) how = describe(status);
  throw std::runtime_error("dataset " + file.string() + ": makes the HDF5 library crash when read (" + how +
                           "): the file is damaged or not a page file; rebuild it with load_data (overwrite: True)");
}

// The child's reply for `file`: a kept child that dies may have died of an earlier file's walk, so
// the file is asked again of a fresh one, and only a fresh child's death is the file's. A walk that
// outlives the time limit is this file's (the earlier walks had finished): not asked twice.
// Returns false when no child could be started (the caller reads the file directly, as before).
bool reply_for(const std::filesystem::path& file, const std::string& request, ProbeWalk walk, std::string& reply) {
  if (probe_child.running() && probe_child.walk != walk) probe_child.stop();
  for (;;) {
    if (!probe_child.running() && !probe_child.start(walk)) return false;
    const bool fresh = probe_child.walks == 0;
    const ProbeChild::Answer answer = probe_child.ask(request, time_limit, reply);
    if (answer == ProbeChild::Answer::kReplied) return true;
    const int status = probe_child.stop();
    const bool timed_out = answer == ProbeChild::Answer::kTimedOut;
    if (fresh || timed_out) throw_crash(file, status, timed_out);
  }
}

}  // namespace

void set_probe_children(ProbeChildren mode) {
  std::lock_guard<std::mutex> lock(probe_mutex);
  children_mode = mode;
  if (mode == ProbeChildren::kOnePerFile && probe_child.running()) probe_child.stop();
}

void set_probe_time_limit(std::chrono::milliseconds limit) {
  std::lock_guard<std::mutex> lock(probe_mutex);
  time_limit = limit;
}

void forget_probed_files() {
  std::lock_guard<std::mutex> lock(probe_mutex);
  probed.clear();
}

void probe_in_child(const std::filesystem::path& file, ProbeWalk walk) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return;  // the caller's own open reports it
  const ProbedKey key{file.string(), st.st_dev,          st.st_ino,          st.st_size,
                      st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  std::lock_guard<std::mutex> lock(probe_mutex);
  if (probed.count(key)) return;
  if (file.native().size() > kMaxPath) {
    throw std::runtime_error("dataset " + file.string().substr(0, 200) + "...: the path is longer than " +
                             std::to_string(kMaxPath) + " bytes; move the file to a shorter path");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  std::string request(reinterpret_cast<const char*>(&file_size), sizeof file_size);
  request += file.native();
  std::string reply;
  const bool asked = reply_for(file, request, walk, reply);
  if (asked && (children_mode == ProbeChildren::kOnePerFile || probe_child.walks >= kWalksPerChild)) {
    probe_child.stop();
  }
  if (!asked) return;  // no process or socket to spare: read it directly, as before
  if (reply[0] == kWalkThrew) {
    // The walk's own error (it names the file), from the child: this process does not walk a file
    // that failed there, whose declared sizes may be what made it fail.
    if (reply.size() > 1) throw std::runtime_error(reply.substr(1));
    throw std::runtime_error("dataset " + file.string() + ": cannot be read as a page file; rebuild it with "
                             "load_data (overwrite: True)");
  }
  probed.insert(key);
}

}  // namespace deepzine::data
