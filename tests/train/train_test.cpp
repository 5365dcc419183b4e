#include <gtest/gtest.h>

#include <memory>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "deepzine/data/page_dataset.h"
#include "deepzine/model/checkpoint.h"
#include "deepzine/pages/build.h"
#include "deepzine/train/swd.h"
#include "deepzine/train/trainer.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;

namespace {
// Real pages (R-data.pdf and R-FAQ.pdf, 93 pages) at up to 128x128, built once for the suite.
class Training : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_dir_ = std::make_unique<deepzine::testing_support::TempDir>("deepzine_train");  // tests/support/temp_dir.h
    root_ = root_dir_->path();
    fs::create_directories(root_ / "pdfs");
    for (const char* pdf : {"R-data.pdf", "R-FAQ.pdf"}) {
      fs::copy_file(fs::path(std::getenv("DEEPZINE_FIXTURES")) / "pdfs" / pdf, root_ / "pdfs" / pdf);
    }
    pages::BuildOptions o;
    o.pdf_directory = root_ / "pdfs";
    o.output_file = root_ / "pages.h5";
    o.max_size = 128;  // data_64 area-averaged from 128, as a 1024 dataset would have it
    pages::build_dataset(o);
  }
  static void TearDownTestSuite() { root_dir_.reset(); }
  void SetUp() override {
    dir_ = root_ / testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
  }

  train::TrainerOptions options(int64_t iterations) {
    train::TrainerOptions o;
    o.arch.latent_size = 8;
    o.arch.max_filter = 8;
    o.arch.filter_reduction_depth = 10;
    o.schedule.output_size = 16;
    o.schedule.iterations_per_stage = iterations;
    o.schedule.batch_size = 4;
    o.schedule.reduced_batch_size = 4;
    o.schedule.batch_reduction_depth = 10;
    o.save_interval = 3;
    o.sample_interval = 3;
    o.log_interval = 2;
    o.swd_images = 16;
    o.log_dir = dir_ / "log";
    o.samples_dir = dir_ / "samples";
    o.seed = 11;
    return o;
  }
  // Reads pages from the real dataset, one reader per stage (opened at the batch asked for).
  train::BatchFn reals() {
    auto readers = std::make_shared<std::map<int, std::shared_ptr<data::PageDataset>>>();
    return [readers](const train::BatchRequest& want) {
      auto& r = (*readers)[want.stage];
      if (!r) {
        data::PageDatasetOptions d;
        d.file = root_ / "pages.h5";
        d.resolution = want.resolution;
        d.batch_size = want.batch_size;
        d.seed = 3 + want.stage;
        d.start_batch = want.step;
        r = std::make_shared<data::PageDataset>(d);
      }
      return r->next_batch();
    };
  }
  static std::unique_ptr<deepzine::testing_support::TempDir> root_dir_;
  static fs::path root_;
  fs::path dir_;
};
std::unique_ptr<deepzine::testing_support::TempDir> Training::root_dir_;
fs::path Training::root_;

size_t lines_of(const fs::path& p) {
  std::ifstream in(p);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}
}  // namespace

TEST_F(Training, TinyRealRunWritesCheckpointsSamplesAndMetrics) {
  auto o = options(4);
  int logged = 0, stage_ends = 0;  // the report's hook (the train stage rebuilds report.html there)
  o.on_progress = [&](bool stage_end) { ++(stage_end ? stage_ends : logged); };
  train::Trainer t(o, reals());
  t.run();
  EXPECT_EQ(stage_ends, 5);
  EXPECT_EQ(logged, 5 * 3);
  for (int r : {4, 8, 16}) {
    const fs::path ck = dir_ / "log" / std::to_string(r) / "checkpoint.pt";
    ASSERT_TRUE(fs::exists(ck)) << ck;
    auto c = model::load_checkpoint(ck);
    EXPECT_EQ(c.meta.resolution, r);
  }
  auto last = model::load_checkpoint(dir_ / "log" / "16" / "checkpoint.pt");
  EXPECT_EQ(last.meta.global_step, 5 * 4);  // 4, 8T, 8, 16T, 16
  EXPECT_EQ(last.meta.images_seen, 5 * 4 * 4);
  EXPECT_FALSE(last.meta.transition);
  for (const char* s : {"samples_4", "samples_8_Transition", "samples_8", "samples_16_Transition", "samples_16"}) {
    EXPECT_TRUE(fs::exists(dir_ / "samples" / s / "000003_fake.png")) << s;
    EXPECT_TRUE(fs::exists(dir_ / "samples" / s / "000003_real.png")) << s;
  }
  // Header + (3 logged steps + 1 SWD row) per stage.
  EXPECT_EQ(lines_of(dir_ / "log" / "metrics.csv"), 1u + 5 * 4);
  auto loaded = model::load_generator_for_inference(dir_ / "log" / "16", torch::kCPU);
  EXPECT_EQ(loaded.generator->forward(torch::randn({2, 8}), 16).sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
}

TEST_F(Training, SameSeedGivesTheSameModel) {
  {
    train::Trainer t(options(3), reals());
    t.run();
  }
  auto first = model::load_checkpoint(dir_ / "log" / "16" / "checkpoint.pt");
  fs::remove_all(dir_);
  {
    train::Trainer t(options(3), reals());
    t.run();
  }
  auto second = model::load_checkpoint(dir_ / "log" / "16" / "checkpoint.pt");
  for (const auto& [name, tensor] : first.G_ema) EXPECT_TRUE(torch::equal(tensor, second.G_ema.at(name))) << name;
}

TEST_F(Training, KilledRunResumesAndFinishes) {
  auto o = options(40);
  o.save_interval = 5;
  pid_t child = fork();
  if (child == 0) {
    try {
      train::Trainer t(o, reals());
      t.run();
    } catch (...) {
    }
    _exit(0);
  }
  // Kill once the 8x8 fade-in has written a checkpoint.
  const fs::path mid = dir_ / "log" / "8" / "checkpoint.pt";
  for (int i = 0; i < 600 && !fs::exists(mid); ++i) usleep(50 * 1000);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(mid));
  const int64_t saved = model::load_checkpoint(mid).meta.global_step;
  EXPECT_GT(saved, 40);
  testing::internal::CaptureStdout();  // spdlog's default logger writes to stdout in tests
  train::Trainer t(o, reals());
  t.run();
  std::string log = testing::internal::GetCapturedStdout();
  EXPECT_NE(log.find("resuming from"), std::string::npos) << log.substr(0, 2000);
  auto done = model::load_checkpoint(dir_ / "log" / "16" / "checkpoint.pt");
  EXPECT_EQ(done.meta.global_step, 5 * 40);
  // Every logged step appears once: header + per stage 20 even steps, the last step and the SWD row.
  EXPECT_EQ(lines_of(dir_ / "log" / "metrics.csv"), 1u + 5 * 22);
}

// A damaged checkpoint of a lower resolution than a good one is older than it: the run resumes from
// the good one with a warning naming the damaged file. A damaged one that may be the newest stops the
// run by name.
TEST_F(Training, ADamagedOlderCheckpointDoesNotStopTheResume) {
  train::Trainer(options(2), reals()).run();
  const fs::path older = dir_ / "log" / "4" / "checkpoint.pt", newest = dir_ / "log" / "16" / "checkpoint.pt";
  ASSERT_TRUE(fs::exists(older) && fs::exists(newest));
  fs::resize_file(older, fs::file_size(older) / 2);
  testing::internal::CaptureStdout();  // spdlog's default logger writes to stdout in tests
  train::Trainer(options(2), reals()).run();
  const std::string log = testing::internal::GetCapturedStdout();
  EXPECT_NE(log.find("checkpoint " + older.string() + " is corrupt or truncated"), std::string::npos) << log;
  EXPECT_NE(log.find("resuming from " + newest.string()), std::string::npos) << log;
  fs::resize_file(newest, fs::file_size(newest) / 2);
  try {
    train::Trainer(options(2), reals()).run();
    ADD_FAILURE() << "a damaged newest checkpoint was not refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(newest.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("restore it, or remove it"), std::string::npos) << e.what();
  }
}

TEST_F(Training, DifferentModelInLogDirIsRefused) {
  train::Trainer(options(2), reals()).run();
  auto o = options(2);
  o.arch.latent_size = 16;
  try {
    train::Trainer(o, reals()).run();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("holds a checkpoint of a different model"), std::string::npos) << e.what();
  }
}

TEST_F(Training, CheckpointIsReadableFromPython) {
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) GTEST_SKIP() << "Debian python3-torch missing";
  train::Trainer(options(2), reals()).run();
  const std::string cmd = "/usr/bin/python3 -c \"import torch; c = torch.load('" +
                          (dir_ / "log" / "16" / "checkpoint.pt").string() +
                          "'); assert c['format'] == 'deepzine-checkpoint'; assert c['meta']['resolution'] == 16; "
                          "assert c['G_ema']['to_rgb_16.weight'].shape == (3, 8, 1, 1)\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST_F(Training, SlicedWassersteinSeparatesRealsFromNoise) {
  data::PageDatasetOptions d;
  d.file = root_ / "pages.h5";
  d.resolution = 64;  // text pages are too sparse below this for 40-image sets to be compared reliably
  d.batch_size = 80;
  d.seed = 1;
  data::PageDataset ds(d);
  auto all = ds.next_batch();  // 80 shuffled pages
  auto a = all.slice(0, 0, 40), b = all.slice(0, 40, 80);
  auto noise = torch::rand_like(a) * 2 - 1;
  const double same = train::sliced_wasserstein(a, b)[0];
  const double different = train::sliced_wasserstein(a, noise)[0];
  EXPECT_LT(same * 3, different) << same << " vs " << different;
  EXPECT_GT(same, 0.0);
}
