// "It learns": short runs of the whole recipe on a synthetic page set must measurably approach the
// reals, and a run killed and resumed must equal the uninterrupted one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "deepzine/model/checkpoint.h"
#include "deepzine/train/swd.h"
#include "deepzine/train/trainer.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;

namespace {

// 16x16 white pages, each with one dark block of random size and place (a "paragraph"), drawn from
// a generator seeded by the batch's position: the same batch whenever it is asked for.
torch::Tensor synthetic_pages(int resolution, int batch, uint64_t seed) {
  auto rng = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int full = 16;
  torch::Tensor pages = torch::ones({batch, 1, full, full});
  torch::Tensor u = at::rand({batch, 4}, rng);
  auto a = u.accessor<float, 2>();
  for (int i = 0; i < batch; ++i) {
    const int h = 4 + static_cast<int>(a[i][0] * 7), w = 4 + static_cast<int>(a[i][1] * 7);  // 4..10
    const int y = static_cast<int>(a[i][2] * (full - h + 1)), x = static_cast<int>(a[i][3] * (full - w + 1));
    using torch::indexing::Slice;
    pages.index_put_({i, 0, Slice(y, y + h), Slice(x, x + w)}, -0.6);
  }
  return resolution == full ? pages : torch::avg_pool2d(pages, full / resolution);
}

train::BatchFn synthetic_reals() {
  return [](const train::BatchRequest& want) {
    return synthetic_pages(want.resolution, want.batch_size, 7919u * (want.stage + 1) + want.step);
  };
}

class Learning : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
  }

  train::TrainerOptions options(int64_t iterations, const fs::path& where) {
    train::TrainerOptions o;  // the defaults are the recipe under test (lr, EMA, Adam reset)
    o.arch.latent_size = 16;
    o.arch.channels = 1;
    o.arch.max_filter = 32;
    o.arch.filter_reduction_depth = 10;
    o.schedule.output_size = 16;
    o.schedule.iterations_per_stage = iterations;
    o.schedule.batch_size = 16;
    o.schedule.reduced_batch_size = 16;
    o.schedule.batch_reduction_depth = 10;
    o.save_interval = 15;
    o.sample_interval = 1000000;
    o.log_interval = 50;
    o.swd_images = 0;
    o.log_dir = where / "log";
    o.samples_dir = where / "samples";
    o.seed = 5;
    return o;
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_learning"};  // tests/support/temp_dir.h
  fs::path dir_;
};

torch::Tensor samples(model::Generator g, int n, int latent) {
  torch::NoGradGuard no_grad;
  auto rng = at::make_generator<at::CPUGeneratorImpl>(99);
  return g->forward(at::randn({n, latent}, rng, torch::TensorOptions()), 16, 1.0);
}

}  // namespace

TEST_F(Learning, SyntheticPagesSwdFallsAndBrightnessMatches) {
  auto o = options(250, dir_);
  train::Trainer trainer(o, synthetic_reals());
  const int n = 256;
  torch::Tensor reals = synthetic_pages(16, n, 424242);
  const double swd_before = train::sliced_wasserstein(reals, samples(trainer.generator_ema(), n, 16))[0];
  trainer.run();
  torch::Tensor fakes = samples(trainer.generator_ema(), n, 16);
  const double swd_after = train::sliced_wasserstein(reals, samples(trainer.generator_ema(), n, 16))[0];
  const double real_vs_real = train::sliced_wasserstein(reals, synthetic_pages(16, n, 77))[0];
  // Mean brightness in 0..255 grey levels.
  const double real_level = (reals.mean().item<double>() + 1) * 127.5;
  const double fake_level = (fakes.mean().item<double>() + 1) * 127.5;
  std::printf("SWD x1e3 before %.1f, after %.1f, real vs real %.1f; mean level real %.1f, fake %.1f\n", swd_before,
              swd_after, real_vs_real, real_level, fake_level);
  EXPECT_LT(swd_after * 3, swd_before);
  EXPECT_NEAR(fake_level, real_level, 6.0);
}

TEST_F(Learning, KilledAndResumedRunEqualsTheUninterruptedRun) {
  const int64_t iterations = 40;  // 5 stages: 200 steps
  const fs::path whole = dir_ / "whole", cut = dir_ / "cut";
  train::Trainer(options(iterations, whole), synthetic_reals()).run();

  pid_t child = fork();
  if (child == 0) {
    try {
      train::Trainer(options(iterations, cut), synthetic_reals()).run();
    } catch (...) {
    }
    _exit(0);
  }
  // Kill inside the 8x8 fade-in, once it has saved a checkpoint of its own.
  const fs::path mid = cut / "log" / "8" / "checkpoint.pt";
  for (int i = 0; i < 2000 && !fs::exists(mid); ++i) usleep(5 * 1000);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(fs::exists(mid));
  const auto at_kill = model::load_checkpoint(mid).meta;
  ASSERT_LT(at_kill.global_step, 5 * iterations) << "the run finished before it was killed";
  train::Trainer(options(iterations, cut), synthetic_reals()).run();

  auto a = model::load_checkpoint(whole / "log" / "16" / "checkpoint.pt");
  auto b = model::load_checkpoint(cut / "log" / "16" / "checkpoint.pt");
  EXPECT_EQ(a.meta.global_step, b.meta.global_step);
  for (const auto& [name, t] : a.G_ema) EXPECT_TRUE(torch::equal(t, b.G_ema.at(name))) << "G_ema " << name;
  for (const auto& [name, t] : a.D) EXPECT_TRUE(torch::equal(t, b.D.at(name))) << "D " << name;
  for (const auto& [name, t] : a.opt_G) EXPECT_TRUE(torch::equal(t, b.opt_G.at(name))) << "Adam(G) " << name;
}
