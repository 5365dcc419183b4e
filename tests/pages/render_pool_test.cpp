// RenderPool: jobs run in forked worker processes; a crash, a hang or an escaped exception costs the
// job it happened in, is reported with it, and the pool goes on with a fresh worker.
#include "deepzine/pages/render_pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/core_dumps.h"
#include "support/temp_dir.h"

using deepzine::pages::Job;
using deepzine::pages::JobReply;
using deepzine::pages::RenderPool;

namespace {

struct Outcome {
  std::map<int64_t, std::vector<std::string>> messages;  // by job index
  std::set<int64_t> done;
  std::map<int64_t, std::string> lost;
  std::set<std::string> worker_pids;
};

// Runs jobs 0..n-1 to their end on `pool`, as the page build does.
Outcome run_all(RenderPool& pool, int n, std::chrono::seconds limit = std::chrono::seconds(30)) {
  Outcome out;
  RenderPool::Events events;
  events.message = [&](const Job& job, uint32_t type, std::vector<uint8_t>&& payload) {
    std::string text(payload.begin(), payload.end());
    if (type == 2) {
      out.worker_pids.insert(text);
    } else {
      out.messages[job.index].push_back(text);
    }
  };
  events.done = [&](const Job& job) { out.done.insert(job.index); };
  events.lost = [&](const Job& job, const std::string& why) { out.lost[job.index] = why; };
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int next = 0;
  while (static_cast<int>(out.done.size() + out.lost.size()) < n && std::chrono::steady_clock::now() < deadline) {
    while (next < n && pool.has_idle_worker()) {
      Job job;
      job.index = next++;
      pool.submit(job);
    }
    pool.poll(events, std::chrono::milliseconds(50));
  }
  return out;
}

// Sends "start <index>" and its pid, then does what the index asks for.
void misbehaving_job(const Job& job, JobReply& reply) {
  reply.send(1, "start " + std::to_string(job.index));
  reply.send(2, std::to_string(getpid()));
  if (job.index == 3) raise(SIGSEGV);
  if (job.index == 5) std::this_thread::sleep_for(std::chrono::seconds(60));
  if (job.index == 7) throw std::runtime_error("job 7 failed");
  if (job.index == 8) _exit(9);
  reply.send(1, "end " + std::to_string(job.index));
}

}  // namespace

TEST(RenderPool, CrashesHangsAndErrorsCostOnlyTheirJob) {
  const auto start = std::chrono::steady_clock::now();
  RenderPool pool(2, std::chrono::milliseconds(400), misbehaving_job);
  const Outcome out = run_all(pool, 12);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0) << "the hanging job was not stopped by the timeout";
  ASSERT_EQ(out.lost.size(), 4u);
  EXPECT_NE(out.lost.at(3).find("crashed (signal 11"), std::string::npos) << out.lost.at(3);
  EXPECT_NE(out.lost.at(5).find("the renderer took longer than page_timeout (0.4 s)"), std::string::npos) << out.lost.at(5);
  EXPECT_EQ(out.lost.at(7), "job 7 failed");
  EXPECT_NE(out.lost.at(8).find("exited with status 9"), std::string::npos) << out.lost.at(8);
  for (int i = 0; i < 12; ++i) {
    const bool bad = i == 3 || i == 5 || i == 7 || i == 8;
    EXPECT_EQ(out.done.count(i), bad ? 0u : 1u) << i;
    // What a job sent before it crashed still arrives, in order.
    ASSERT_GE(out.messages.at(i).size(), 1u) << i;
    EXPECT_EQ(out.messages.at(i).front(), "start " + std::to_string(i));
    if (!bad) {
      EXPECT_EQ(out.messages.at(i).back(), "end " + std::to_string(i));
    }
  }
  // Three workers died (3, 5, 8) and were replaced; an escaped exception (7) kept its worker.
  EXPECT_GE(out.worker_pids.size(), 4u);
  EXPECT_LE(out.worker_pids.size(), 5u);
}

// A worker's crash (a poppler bug on a hostile PDF) costs its page, not a core file in the user's
// working directory, whatever their `ulimit -c`.
TEST(RenderPool, ACrashingWorkerLeavesNoCoreFile) {
  deepzine::testing_support::TempDir dir;
  std::vector<std::string> left;
  {
    deepzine::testing_support::CoreDumpsIntoFolder cores(dir.path());
    if (!cores.possible()) GTEST_SKIP() << "cores do not go to the working directory (" << cores.core_pattern() << ")";
    RenderPool pool(1, std::chrono::seconds(30), [](const Job&, JobReply&) { raise(SIGSEGV); });
    const Outcome out = run_all(pool, 1);
    ASSERT_EQ(out.lost.size(), 1u);
    EXPECT_NE(out.lost.at(0).find("crashed (signal 11"), std::string::npos) << out.lost.at(0);
    left = cores.left();
  }
  EXPECT_TRUE(left.empty()) << "left in the working directory: " << left.front();
}

TEST(RenderPool, WorkersEndWithThePool) {
  std::set<std::string> pids;
  {
    RenderPool pool(3, std::chrono::seconds(5), [](const Job&, JobReply& reply) {
      reply.send(2, std::to_string(getpid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // all three get one
    });
    pids = run_all(pool, 3).worker_pids;
  }
  ASSERT_EQ(pids.size(), 3u);
  for (const auto& pid : pids) EXPECT_NE(kill(std::stoi(pid), 0), 0) << "worker " << pid << " outlived its pool";
}

TEST(RenderPool, LargeMessagesArriveWhole) {
  RenderPool pool(2, std::chrono::seconds(10), [](const Job& job, JobReply& reply) {
    std::string big(3 << 20, static_cast<char>('a' + job.index));  // larger than any pipe buffer
    reply.send(1, big);
  });
  const Outcome out = run_all(pool, 4);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(out.messages.at(i).size(), 1u);
    EXPECT_EQ(out.messages.at(i)[0], std::string(3 << 20, static_cast<char>('a' + i)));
  }
}
