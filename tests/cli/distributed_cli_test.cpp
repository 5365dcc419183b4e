// deepzine --nproc 2 end to end on fixture PDFs (CPU ranks, Gloo over loopback): one set of
// checkpoints and metrics, every rank logged, and a killed rank stops the run with an error.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

class Distributed : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_ / "pdfs");
    const fs::path pdfs = fs::path(std::getenv("DEEPZINE_FIXTURES")) / "pdfs";
    int copied = 0;
    for (const auto& e : fs::directory_iterator(pdfs)) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ".pdf" && name.rfind("scanned", 0) != 0 && copied < 2) {
        fs::copy_file(e.path(), dir_ / "pdfs" / name);
        ++copied;
      }
    }
    ASSERT_EQ(copied, 2);
  }

  fs::path config(int iterations) {
    fs::path p = dir_ / "cfg.yaml";
    std::ofstream(p) << "load_data: True\ntrain: True\ninference: True\ninterpolation: False\n"
                        "download_pdf: False\npdf_directory: " << (dir_ / "pdfs").string() << "\n"
                     << "data_hdf5: " << (dir_ / "pages.h5").string() << "\ndata_output_size: 16\ndevice: cpu\n"
                     << "random_seed: 3\nlog_dir: " << (dir_ / "models").string() << "\nsamples_dir: "
                     << (dir_ / "samples").string() << "\ngan_output_size: 8\nlatent_size: 16\nmax_filter: 16\n"
                     << "batch_size: 4\niterations_per_stage: " << iterations
                     << "\nmodel_save_interval_steps: 10\nmodel_sample_interval_steps: 10\n"
                        "model_loss_output_interval_steps: 5\nswd_image_num: 0\ndistributed_timeout: 20\n"
                        "inference_model_directory: " << (dir_ / "models").string() << "\ninference_output_directory: "
                     << (dir_ / "inference").string() << "\ninference_output_num: 4\n";
    return p;
  }

  // Starts deepzine with output to dir_/log.txt; returns its pid.
  pid_t start(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env = {},
              const std::string& log_name = "log.txt") {
    pid_t pid = fork();
    if (pid == 0) {
      FILE* log = fopen((dir_ / log_name).c_str(), "w");
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
      std::vector<char*> argv{const_cast<char*>(std::getenv("DEEPZINE_BINARY"))};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      unsetenv("WORLD_SIZE");
      unsetenv("RANK");
      unsetenv("MASTER_PORT");
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }
  // Waits up to `seconds`; returns the exit status, or -1 on timeout (then kills it).
  int wait_for(pid_t pid, int seconds) {
    for (int i = 0; i < seconds * 20; ++i) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }
  std::string log(const std::string& name = "log.txt") {
    std::ifstream in(dir_ / name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_dist_cli"};  // tests/support/temp_dir.h
  fs::path dir_;
};

std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t c;
  while (in >> c) out.push_back(c);
  return out;
}

int rank_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string var;
  while (std::getline(in, var, '\0'))
    if (var.rfind("RANK=", 0) == 0) return std::atoi(var.c_str() + 5);
  return -1;
}

}  // namespace

TEST_F(Distributed, TwoRanksTrainAndWriteOneSetOfCheckpoints) {
  const int rc = wait_for(start({config(20).string(), "--nproc", "2"}), 300);
  const std::string out = log();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("rank 0 of 2"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 1 of 2"), std::string::npos) << out;
  EXPECT_NE(out.find("[rank 1]"), std::string::npos) << "rank lines are not prefixed:\n" << out;
  for (int res : {4, 8}) EXPECT_TRUE(fs::exists(dir_ / "models" / std::to_string(res) / "checkpoint.pt")) << res;
  // Only rank 0 writes: metrics.csv has each logged step once (3 stages x (steps 1, 6, 11, 16, 20)).
  std::ifstream csv(dir_ / "models" / "metrics.csv");
  std::string line;
  int rows = -1;  // header
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 15) << "metrics.csv rows: one per logged step, rank 0 only";
  // Inference ran after training, in the launcher, from the trained model.
  EXPECT_TRUE(fs::exists(dir_ / "inference" / "inference_00003.png")) << out;
  for (const auto& e : fs::recursive_directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "leftover " << e.path();

  // A longer schedule resumes on every rank from the same (rank 0's) checkpoint.
  const int rc2 = wait_for(start({config(30).string(), "--nproc", "2", "--only", "train"}), 300);
  const std::string out2 = log();
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("[rank 0] resuming from"), std::string::npos) << out2;
  EXPECT_NE(out2.find("[rank 1] resuming from"), std::string::npos) << out2;
}

TEST_F(Distributed, KillingOneRankStopsTheOtherWithAnError) {
  const pid_t launcher = start({config(100000).string(), "--nproc", "2"});
  // Wait until both ranks train, then kill rank 1.
  pid_t victim = -1;
  std::vector<pid_t> ranks;
  for (int i = 0; i < 1200 && victim < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (log().find("[rank 1] stage 4 step 6/") == std::string::npos) continue;
    ranks = children_of(launcher);
    for (pid_t c : ranks)
      if (rank_of(c) == 1) victim = c;
  }
  ASSERT_GT(victim, 0) << "rank 1 never started training:\n" << log();
  ASSERT_EQ(ranks.size(), 2u);
  const auto t0 = std::chrono::steady_clock::now();
  kill(victim, SIGKILL);
  const int rc = wait_for(launcher, 60);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out = log();
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(rc, -1) << "the launcher hung after a rank died:\n" << out;
  EXPECT_LT(secs, 30.0);
  EXPECT_NE(out.find("rank 1 was killed by signal 9"), std::string::npos) << out;
  EXPECT_NE(out.find("training failed: rank 1 of 2"), std::string::npos) << out;
  for (pid_t c : ranks) EXPECT_NE(kill(c, 0), 0) << "rank process " << c << " still alive";
}

// torchrun-style launch (no --nproc): the survivor of a killed peer stops on its own with an error.
TEST_F(Distributed, TorchrunStyleRankStopsWithAnErrorWhenItsPeerDies) {
  const fs::path cfg = config(100000);
  ASSERT_EQ(wait_for(start({cfg.string(), "--only", "load_data"}), 120), 0) << log();
  auto env = [](int rank) {
    return std::vector<std::pair<std::string, std::string>>{
        {"RANK", std::to_string(rank)}, {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"},
        {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(20000 + ::getpid() % 20000)}};
  };
  const pid_t r0 = start({cfg.string()}, env(0), "rank0.txt");
  const pid_t r1 = start({cfg.string()}, env(1), "rank1.txt");
  bool training = false;
  for (int i = 0; i < 1200 && !training; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    training = log("rank1.txt").find("stage 4 step 6/") != std::string::npos;
  }
  ASSERT_TRUE(training) << log("rank0.txt") << log("rank1.txt");
  kill(r1, SIGKILL);
  waitpid(r1, nullptr, 0);
  const int rc = wait_for(r0, 60);  // distributed_timeout is 20 s in this config
  const std::string out = log("rank0.txt");
  EXPECT_NE(rc, -1) << "rank 0 hung after its peer died:\n" << out;
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("error"), std::string::npos) << out;
}

TEST_F(Distributed, DryRunPrintsTheEffectiveBatch) {
  const int rc = wait_for(start({config(20).string(), "--nproc", "2", "--dry-run"}), 60);
  const std::string out = log();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("effective batch = batch x 2"), std::string::npos) << out;
  EXPECT_NE(out.find("learning rate 0.003 unchanged"), std::string::npos) << out;  // the default
  EXPECT_FALSE(fs::exists(dir_ / "models"));
}

TEST_F(Distributed, NprocInsideATorchrunEnvironmentIsAClearError) {
  const int rc = wait_for(start({config(20).string(), "--nproc", "2"}, {{"WORLD_SIZE", "2"}, {"RANK", "0"}}), 60);
  const std::string out = log();
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("use either --nproc or torchrun-style variables"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ / "models"));
}
