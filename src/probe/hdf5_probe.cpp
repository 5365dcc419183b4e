#include "deepzine/probe/hdf5_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/mman.h>
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
#include <stdexcept>
#include <string>
#include <vector>

#include "deepzine/util/child_process.h"
#include "probe_sanitizer.h"

namespace deepzine::probe {
namespace {

// The child's replies: one packet, a code byte and for kWalkThrew the walk's error; for kWalked the
// answer is in a memory file whose descriptor the packet carries (a page map can take megabytes).
constexpr char kWalked = 0, kWalkThrew = 2;
constexpr size_t kMaxMessage = 4096;   // of a walk's error
constexpr size_t kMaxPath = 65536;     // of a request's path; a longer one is refused unprobed
constexpr size_t kMaxQuestion = 256;   // of a request's question
constexpr uint64_t kMaxAnswer = uint64_t(1) << 30;
// A kept child is replaced after this many walks (HDF5's free lists grow). The fuzzer asks 3-5 page maps
// of each input, and each replacement forks its large sanitized address space again (copying its page
// tables was a quarter of fuzz_page_file's time at 1,000).
constexpr int kWalksPerChild = 5000;

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
  sanitizer::bound_child_heap(file_size);
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
  sanitizer::prepare_child();
  if (socket_fd > 3) close_range(3, static_cast<unsigned>(socket_fd) - 1, 0);
  close_range(static_cast<unsigned>(socket_fd) + 1, ~0U, 0);
}

// The answer in a memory file (sealed at its size), or -1 with `error` set.
int answer_file(const std::string& answer, std::string& error) {
  const int fd = memfd_create("deepzine-probe-answer", MFD_CLOEXEC);
  if (fd < 0) {
    error = std::string("cannot create a memory file for the answer: ") + std::strerror(errno);
    return -1;
  }
  size_t done = 0;
  while (done < answer.size()) {
    const ssize_t wrote = ::write(fd, answer.data() + done, answer.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      error = std::string("cannot write the answer: ") + std::strerror(errno);
      ::close(fd);
      return -1;
    }
    done += static_cast<size_t>(wrote);
  }
  return fd;
}

// Sends one reply packet, with `fd` attached when it is not -1.
bool send_reply(int socket_fd, const std::string& reply, int fd) {
  iovec part{const_cast<char*>(reply.data()), reply.size()};
  msghdr message{};
  message.msg_iov = &part;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  }
  return ::sendmsg(socket_fd, &message, MSG_NOSIGNAL) >= 0;
}

// Answers one request (the file's size, the question's length, the question, then the file's path).
bool walk_one(int socket_fd, const char* request, size_t length, ProbeWalk walk) {
  uint64_t file_size = 0, question_length = 0;
  std::memcpy(&file_size, request, sizeof file_size);
  std::memcpy(&question_length, request + sizeof file_size, sizeof question_length);
  const size_t header = 2 * sizeof(uint64_t);
  if (question_length > length - header) _exit(3);  // the parent sent it: cannot happen
  const std::string question(request + header, question_length);
  const std::filesystem::path file(std::string(request + header + question_length, length - header - question_length));
  bound_child_memory(file_size);
  std::string error;
  try {
    const int fd = answer_file(walk(file, question), error);
    if (fd >= 0) {
      const bool sent = send_reply(socket_fd, std::string(1, kWalked), fd);
      ::close(fd);
      return sent;
    }
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
  }
  return send_reply(socket_fd, kWalkThrew + error.substr(0, kMaxMessage), -1);
}

// The child: walks each file it is sent until the parent closes its end.
[[noreturn]] void serve(int socket_fd, ProbeWalk walk) {
  prepare_child(socket_fd);
  std::vector<char> request(2 * sizeof(uint64_t) + kMaxQuestion + kMaxPath);
  for (;;) {
    ssize_t length;
    do length = ::recv(socket_fd, request.data(), request.size(), 0);
    while (length < 0 && errno == EINTR);
    if (length < static_cast<ssize_t>(2 * sizeof(uint64_t))) _exit(0);  // the parent's end is closed
    if (!walk_one(socket_fd, request.data(), static_cast<size_t>(length), walk)) _exit(0);
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
  Answer ask(const std::string& request, std::chrono::milliseconds limit, std::string& reply, int& answer_fd) {
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
    iovec part{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t length;
    do length = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    while (length < 0 && errno == EINTR);
    answer_fd = -1;
    const cmsghdr* header = length > 0 ? CMSG_FIRSTHDR(&message) : nullptr;
    if (header && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS &&
        header->cmsg_len == CMSG_LEN(sizeof(int))) {
      std::memcpy(&answer_fd, CMSG_DATA(header), sizeof answer_fd);
    }
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
  std::string how = sanitizer::judge_child_death(status, file);
  if (how.empty()) how = describe(status);
  throw std::runtime_error("dataset " + file.string() + ": makes the HDF5 library crash when read (" + how +
                           "): the file is damaged or not a page file; rebuild it with load_data (overwrite: True)");
}

// The child's reply for `file` (and the answer's descriptor): a kept child that dies may have died of an
// earlier file's walk, so the file is asked again of a fresh one, and only a fresh child's death is the
// file's. A walk that outlives the time limit is this file's (the earlier walks had finished): not
// asked twice. Returns false when no child could be started.
bool reply_for(const std::filesystem::path& file, const std::string& request, ProbeWalk walk, std::string& reply,
               int& answer_fd) {
  if (probe_child.running() && probe_child.walk != walk) probe_child.stop();
  for (;;) {
    if (!probe_child.running() && !probe_child.start(walk)) return false;
    const bool fresh = probe_child.walks == 0;
    const ProbeChild::Answer answer = probe_child.ask(request, time_limit, reply, answer_fd);
    if (answer == ProbeChild::Answer::kReplied) return true;
    if (answer_fd >= 0) ::close(answer_fd);
    const int status = probe_child.stop();
    const bool timed_out = answer == ProbeChild::Answer::kTimedOut;
    if (fresh || timed_out) throw_crash(file, status, timed_out);
  }
}

// The answer the child left in its memory file, bounded; closes the descriptor.
std::string read_answer(int fd, const std::filesystem::path& file) {
  struct stat st {};
  std::string answer;
  const bool sized = ::fstat(fd, &st) == 0 && st.st_size >= 0 && static_cast<uint64_t>(st.st_size) <= kMaxAnswer;
  if (sized) answer.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (sized && done < answer.size()) {
    const ssize_t got = ::pread(fd, answer.data() + done, answer.size() - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  if (!sized || done != answer.size()) {
    throw std::runtime_error("dataset " + file.string() + ": the answer of the process that read it could not be "
                             "taken (" + (sized ? "short" : "over 1 GiB") + "); try again");
  }
  return answer;
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

std::string probe_in_child(const std::filesystem::path& file, const std::string& question, ProbeWalk walk) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    throw std::runtime_error("dataset " + file.string() + ": cannot be read (" + std::strerror(errno) + ")");
  }
  if (file.native().size() > kMaxPath || question.size() > kMaxQuestion) {
    throw std::runtime_error("dataset " + file.string().substr(0, 200) + "...: the path is longer than " +
                             std::to_string(kMaxPath) + " bytes; move the file to a shorter path");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size), question_length = question.size();
  std::string request(reinterpret_cast<const char*>(&file_size), sizeof file_size);
  request.append(reinterpret_cast<const char*>(&question_length), sizeof question_length);
  request += question;
  request += file.native();
  std::lock_guard<std::mutex> lock(probe_mutex);
  std::string reply;
  int answer_fd = -1;
  const bool asked = reply_for(file, request, walk, reply, answer_fd);
  if (asked && (children_mode == ProbeChildren::kOnePerFile || probe_child.walks >= kWalksPerChild)) {
    probe_child.stop();
  }
  if (!asked) return walk(file, question);  // no process or socket to spare: here, as before the probe
  if (reply[0] == kWalked && answer_fd >= 0) return read_answer(answer_fd, file);
  if (answer_fd >= 0) ::close(answer_fd);
  // The walk's own error (it names the file), from the child.
  if (reply[0] == kWalkThrew && reply.size() > 1) throw std::runtime_error(reply.substr(1));
  throw std::runtime_error("dataset " + file.string() + ": cannot be read as a page file; rebuild it with load_data "
                           "(overwrite: True)");
}

}  // namespace deepzine::probe
