#pragma once
// Worker processes for work on untrusted files (poppler on PDFs from the internet): a crash or a hang
// in one job costs that job's current item, not the run. Workers are forked, so they see the
// parent's memory as it was (the plan, the options) and get only a small Job over a pipe; they answer
// with framed messages. A worker that dies or stays silent longer than the timeout is killed,
// reported to the caller with the job it was on, and replaced.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace deepzine::pages {

struct Job {
  int32_t type = 0;   // caller-defined
  int64_t index = 0;  // caller-defined (a file, a task)
  int32_t first = 0, count = 0;
  int64_t tag = 0;    // caller-defined (which of its records the answers belong to)
};

// What a worker sends back: messages of a caller-defined type and any bytes.
class JobReply {
 public:
  explicit JobReply(int fd) : fd_(fd) {}
  void send(uint32_t type, const void* bytes, uint64_t size);
  void send(uint32_t type, const std::string& text) { send(type, text.data(), text.size()); }

 private:
  int fd_;
};

class RenderPool {
 public:
  using WorkerFn = std::function<void(const Job&, JobReply&)>;  // runs in the worker process
  struct Events {
    std::function<void(const Job&, uint32_t type, std::vector<uint8_t>&& payload)> message;
    // Exactly one of done and lost ends every submitted job.
    std::function<void(const Job&)> done;
    // The worker died, was silent for `timeout`, or the job function threw; `why` says which.
    std::function<void(const Job&, const std::string& why)> lost;
  };

  // `timeout`: the longest a busy worker may go without sending a message.
  RenderPool(int workers, std::chrono::milliseconds timeout, WorkerFn fn);
  ~RenderPool();  // closes the job pipes (workers exit), reaps them, kills stragglers
  RenderPool(const RenderPool&) = delete;
  RenderPool& operator=(const RenderPool&) = delete;

  bool has_idle_worker() const;
  void submit(const Job& job);  // to an idle worker; std::logic_error if none
  // Waits up to `wait` for messages and delivers them; handles dead and silent workers.
  void poll(const Events& events, std::chrono::milliseconds wait);

 private:
  struct Worker {
    pid_t pid = -1;
    int job_fd = -1, reply_fd = -1;
    bool busy = false;
    Job job;
    std::chrono::steady_clock::time_point last_heard;
    std::vector<uint8_t> buffer;  // bytes of messages not yet complete
    std::string escaped;          // what the job function threw, reported with its end
  };
  void spawn(Worker& w);
  void retire(Worker& w, const Events& events, const std::string& why);
  bool drain(Worker& w, const Events& events);  // false at end of file
  std::vector<Worker> workers_;
  std::chrono::milliseconds timeout_;
  WorkerFn fn_;
  void (*previous_sigpipe_)(int) = nullptr;
};

}  // namespace deepzine::pages
