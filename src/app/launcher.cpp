#include "launcher.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"
#include "deepzine/util/interrupt.h"

namespace deepzine::app {
namespace {

using stages::Stage;

// A loopback port that was free a moment ago; MASTER_PORT wins when set.
int pick_port() {
  if (const char* p = std::getenv("MASTER_PORT")) return std::atoi(p);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("--nproc: cannot find a free loopback port (set MASTER_PORT)");
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

pid_t spawn_rank(const std::vector<std::string>& args, int rank, int world, int port) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: its own process group (the launcher forwards Ctrl-C once), dies with the launcher.
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(world).c_str(), 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv("/proc/self/exe", argv.data());
  _exit(127);
}

struct RankExit {
  int rank;
  int status;
};

bool succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// Every rank that has ended by now, removed from `running`.
std::vector<RankExit> reap_ended(std::map<pid_t, int>& running) {
  std::vector<RankExit> ended;
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    auto it = running.find(pid);
    if (it == running.end()) continue;
    ended.push_back({it->second, status});
    running.erase(it);
  }
  return ended;
}

// The rank to blame among ranks that ended together. When one rank dies, its peers' collectives
// break and they exit with an error a few milliseconds later; waitpid may report them first. A rank
// killed by a signal (OOM killer, a crash, kill -9) is the cause, so it wins over an error exit.
const RankExit* first_cause(const std::vector<RankExit>& ended) {
  const RankExit* cause = nullptr;
  for (const auto& e : ended) {
    if (succeeded(e.status)) continue;
    if (!cause || (WIFSIGNALED(e.status) && !WIFSIGNALED(cause->status))) cause = &e;
  }
  return cause;
}

struct RankWatch {
  int world = 0;
  int exit_code = util::kExitOk;
  int failed_rank = -1;
  bool forwarded = false;  // Ctrl-C was passed on: ranks exiting "interrupted" are not failures
  std::chrono::steady_clock::time_point kill_deadline = std::chrono::steady_clock::time_point::max();

  void on_ended(std::vector<RankExit> ended, std::map<pid_t, int>& running) {
    const auto is_failure = [&](const RankExit& e) {
      const bool interrupted = WIFEXITED(e.status) && WEXITSTATUS(e.status) == util::kExitInterrupted;
      return !succeeded(e.status) && !(interrupted && forwarded);
    };
    const bool first_failure = failed_rank < 0 && std::any_of(ended.begin(), ended.end(), is_failure);
    if (first_failure) {
      // Let the peers of a dying rank end too before choosing whom to blame.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      for (auto& e : reap_ended(running)) ended.push_back(e);
    }
    for (const auto& e : ended)
      if (!succeeded(e.status) && exit_code == util::kExitOk)
        exit_code = WIFEXITED(e.status) ? WEXITSTATUS(e.status) : util::kExitStageFailed;
    if (!first_failure) return;
    const RankExit* cause = first_cause(ended);
    failed_rank = cause->rank;
    exit_code = WIFEXITED(cause->status) ? WEXITSTATUS(cause->status) : util::kExitStageFailed;
    for (const auto& e : ended)
      if (&e != cause && !succeeded(e.status)) spdlog::error("rank {} {}", e.rank, describe(e.status));
    spdlog::error("rank {} {}; stopping the other ranks", cause->rank, describe(cause->status));
    for (auto& [pid, rank] : running) kill(pid, SIGTERM);
    kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  }

  void on_tick(const std::map<pid_t, int>& running) {
    if (util::interrupted() && !forwarded) {
      forwarded = true;
      spdlog::warn("interrupt: asking every rank to save and stop");
      for (auto& [pid, rank] : running) kill(pid, SIGINT);
    }
    if (std::chrono::steady_clock::now() > kill_deadline) {
      for (auto& [pid, rank] : running) {
        spdlog::error("rank {} did not stop within 10 s; killing it", rank);
        kill(pid, SIGKILL);
      }
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
  }

  int result() const {
    if (failed_rank >= 0) {
      spdlog::error("training failed: rank {} of {} stopped first (see its log lines above); a rerun resumes from "
                    "the last checkpoint", failed_rank, world);
      return exit_code == util::kExitOk ? util::kExitStageFailed : exit_code;
    }
    if (forwarded) return util::kExitInterrupted;
    return exit_code;
  }
};

int train_in_ranks(const config::Config& cfg, const CommandLine& cl) {
  std::vector<std::string> args{"deepzine", cl.config_file};
  for (const auto& o : cl.overrides) {
    args.push_back("--set");
    args.push_back(o.key + "=" + o.yaml_value);
  }
  args.push_back("--only");
  args.push_back("train");
  const int port = pick_port();
  spdlog::info("--nproc {}: starting {} training ranks (Gloo/NCCL rendezvous on 127.0.0.1:{})", cl.nproc, cl.nproc,
               port);
  std::map<pid_t, int> running;
  for (int r = 0; r < cl.nproc; ++r) running[spawn_rank(args, r, cl.nproc, port)] = r;

  RankWatch watch;
  watch.world = cl.nproc;
  while (!running.empty()) {
    auto ended = reap_ended(running);
    if (!ended.empty()) {
      watch.on_ended(std::move(ended), running);
      continue;
    }
    watch.on_tick(running);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return watch.result();
}

}  // namespace

int run_with_local_ranks(const config::Config& cfg, const CommandLine& cl) {
  if (stages::stage_selected(cfg, Stage::kLoadData, cl.only)) {
    int rc = stages::run_stages(cfg, {Stage::kLoadData});
    if (rc != util::kExitOk) return rc;
  }
  if (stages::stage_selected(cfg, Stage::kTrain, cl.only)) {
    int rc = train_in_ranks(cfg, cl);
    if (rc != util::kExitOk) return rc;
  }
  std::vector<Stage> after;
  for (Stage s : {Stage::kInference, Stage::kInterpolation})
    if (stages::stage_selected(cfg, s, cl.only)) after.push_back(s);
  return after.empty() ? util::kExitOk : stages::run_stages(cfg, after);
}

}  // namespace deepzine::app
