#include "deepzine/pages/render_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "deepzine/util/child_process.h"
#include "deepzine/util/fd_write.h"

namespace deepzine::pages {
namespace {

constexpr uint32_t kDone = 0xFFFFFFFFu;     // the job is finished; the worker waits for the next
constexpr uint32_t kEscaped = 0xFFFFFFFEu;  // the job function threw: delivered as lost

struct Header {
  uint32_t type = 0, reserved = 0;
  uint64_t size = 0;
};

// In a worker: the parent is gone, so there is nothing more to do.
void write_all_or_exit(int fd, const void* bytes, size_t size) {
  if (!util::write_fully(fd, bytes, size)) _exit(1);
}

// True when a whole job arrived, false at end of file (the parent closed the pipe or is gone).
bool read_job(int fd, Job& job) {
  char* at = reinterpret_cast<char*>(&job);
  size_t left = sizeof job;
  while (left > 0) {
    const ssize_t n = ::read(fd, at, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

std::string describe_end(int status) {
  if (WIFSIGNALED(status)) {
    return "the renderer crashed (signal " + std::to_string(WTERMSIG(status)) + ": " + strsignal(WTERMSIG(status)) + ")";
  }
  if (WIFEXITED(status)) return "the renderer exited with status " + std::to_string(WEXITSTATUS(status));
  return "the renderer stopped";
}

[[noreturn]] void worker_main(int job_fd, int reply_fd, const RenderPool::WorkerFn& fn) {
  JobReply reply(reply_fd);
  Job job;
  while (read_job(job_fd, job)) {
    try {
      fn(job, reply);
    } catch (const std::exception& e) {
      reply.send(kEscaped, e.what());
    } catch (...) {
      reply.send(kEscaped, std::string("unknown error"));
    }
    reply.send(kDone, nullptr, 0);
  }
  _exit(0);  // never unwind into the parent's stack or run its exit handlers
}

}  // namespace

void JobReply::send(uint32_t type, const void* bytes, uint64_t size) {
  Header header;
  header.type = type;
  header.size = size;
  write_all_or_exit(fd_, &header, sizeof header);
  if (size > 0) write_all_or_exit(fd_, bytes, size);
}

RenderPool::RenderPool(int workers, std::chrono::milliseconds timeout, WorkerFn fn)
    : workers_(static_cast<size_t>(std::max(1, workers))), timeout_(timeout), fn_(std::move(fn)) {
  // Writing a job to a worker that just died must be an error to handle, not a SIGPIPE that ends us.
  previous_sigpipe_ = signal(SIGPIPE, SIG_IGN);
  for (Worker& w : workers_) spawn(w);
}

RenderPool::~RenderPool() {
  for (Worker& w : workers_) {
    if (w.job_fd >= 0) ::close(w.job_fd);  // end of file: an idle worker exits
    w.job_fd = -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (Worker& w : workers_) {
    if (w.pid <= 0) continue;
    int status = 0;
    while (waitpid(w.pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(w.pid, SIGKILL);  // busy on a job nobody waits for any more
        waitpid(w.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (w.reply_fd >= 0) ::close(w.reply_fd);
  }
  signal(SIGPIPE, previous_sigpipe_);
}

void RenderPool::spawn(Worker& w) {
  int job_pipe[2], reply_pipe[2];
  if (pipe2(job_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot create a pipe: ") + strerror(errno));
  if (pipe2(reply_pipe, O_CLOEXEC) != 0) {
    ::close(job_pipe[0]);
    ::close(job_pipe[1]);
    throw std::runtime_error(std::string("cannot create a pipe: ") + strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("cannot start a render process: ") + strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the run
    if (getppid() != parent) _exit(1);
    util::disable_core_dumps();        // a poppler crash costs its page, not a core file in the cwd
    signal(SIGINT, SIG_IGN);           // Ctrl-C is the parent's to handle
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);          // the parent is gone: end quietly
    // Every descriptor but stdio and its two pipe ends is closed: a replacement worker is forked
    // while the parent writes HDF5 files, and an inherited descriptor would keep their locks.
    const unsigned low = static_cast<unsigned>(std::min(job_pipe[0], reply_pipe[1]));
    const unsigned high = static_cast<unsigned>(std::max(job_pipe[0], reply_pipe[1]));
    if (low > 3) close_range(3, low - 1, 0);
    if (high > low + 1) close_range(low + 1, high - 1, 0);
    close_range(high + 1, ~0U, 0);
    worker_main(job_pipe[0], reply_pipe[1], fn_);
  }
  ::close(job_pipe[0]);
  ::close(reply_pipe[1]);
  fcntl(reply_pipe[0], F_SETFL, fcntl(reply_pipe[0], F_GETFL) | O_NONBLOCK);
  w.pid = pid;
  w.job_fd = job_pipe[1];
  w.reply_fd = reply_pipe[0];
  w.busy = false;
  w.buffer.clear();
  w.escaped.clear();
}

bool RenderPool::has_idle_worker() const {
  for (const Worker& w : workers_)
    if (!w.busy) return true;
  return false;
}

void RenderPool::submit(const Job& job) {
  for (Worker& w : workers_) {
    if (w.busy) continue;
    w.busy = true;
    w.job = job;
    w.last_heard = std::chrono::steady_clock::now();
    // A dead worker's pipe fails here (EPIPE: SIGPIPE is ignored while the pool lives); poll()
    // then sees its end of file and reports the job lost.
    util::write_fully(w.job_fd, &job, sizeof job);
    return;
  }
  throw std::logic_error("RenderPool::submit: no idle worker");
}

void RenderPool::retire(Worker& w, const Events& events, const std::string& why) {
  ::close(w.job_fd);
  ::close(w.reply_fd);
  w.job_fd = w.reply_fd = -1;
  const bool was_busy = w.busy;
  const Job job = w.job;
  spawn(w);  // before the callback, so the caller can resubmit at once
  if (was_busy) events.lost(job, why);
}

bool RenderPool::drain(Worker& w, const Events& events) {
  uint8_t chunk[1 << 16];
  bool open = true;
  for (;;) {
    const ssize_t n = ::read(w.reply_fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      open = false;  // what it sent before it ended still counts
      break;
    }
    w.buffer.insert(w.buffer.end(), chunk, chunk + n);
  }
  size_t at = 0;
  while (w.buffer.size() - at >= sizeof(Header)) {
    Header header;
    std::memcpy(&header, w.buffer.data() + at, sizeof header);
    if (w.buffer.size() - at - sizeof header < header.size) break;
    const uint8_t* body = w.buffer.data() + at + sizeof header;
    std::vector<uint8_t> payload(body, body + header.size);
    at += sizeof header + header.size;
    w.last_heard = std::chrono::steady_clock::now();
    if (header.type == kDone) {
      w.busy = false;
      if (w.escaped.empty()) {
        events.done(w.job);
      } else {
        events.lost(w.job, w.escaped);
        w.escaped.clear();
      }
    } else if (header.type == kEscaped) {
      w.escaped.assign(payload.begin(), payload.end());
    } else {
      events.message(w.job, header.type, std::move(payload));
    }
  }
  w.buffer.erase(w.buffer.begin(), w.buffer.begin() + static_cast<std::ptrdiff_t>(at));
  return open;
}

void RenderPool::poll(const Events& events, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  for (const Worker& w : workers_) fds.push_back({w.reply_fd, POLLIN, 0});
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  if (ready < 0 && errno != EINTR) throw std::runtime_error(std::string("poll failed: ") + strerror(errno));
  for (size_t i = 0; ready > 0 && i < workers_.size(); ++i) {
    Worker& w = workers_[i];
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (drain(w, events)) continue;
    int status = 0;
    waitpid(w.pid, &status, 0);  // end of file: the worker is gone
    retire(w, events, describe_end(status));
  }
  const auto now = std::chrono::steady_clock::now();
  for (Worker& w : workers_) {
    if (!w.busy || now - w.last_heard <= timeout_) continue;
    kill(w.pid, SIGKILL);
    waitpid(w.pid, nullptr, 0);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", std::chrono::duration<double>(timeout_).count());
    retire(w, events, std::string("the renderer took longer than page_timeout (") + seconds + " s)");
  }
}

}  // namespace deepzine::pages
