// The PGGAN training step data-parallel: 2 ranks x batch B (threads, each with its own Gloo process
// group, model copy and reducers) give the parameters of 1 rank x batch 2B, in float64, mid fade-in
// (so the upsample/downsample blends, minibatch stddev and the gradient penalty are all involved).
#include <gtest/gtest.h>

#include "support/free_port.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torch/torch.h>

#include <thread>

#include "deepzine/dist/dist.h"
#include "deepzine/model/pggan.h"
#include "deepzine/train/step.h"

namespace dd = deepzine::dist;
namespace model = deepzine::model;
namespace train = deepzine::train;
using namespace std::chrono_literals;

namespace {

using deepzine::testing_support::free_port;

model::ArchitectureSpec tiny() {
  model::ArchitectureSpec a;
  a.latent_size = 8;
  a.channels = 3;
  a.max_filter = 8;
  a.filter_reduction_depth = 4;
  return a;
}

// Trains `steps` steps at 8x8, alpha 0.5, from init seed `init_seed` (different per rank: the
// broadcast must fix it); reals are the rank's share of the global batches.
std::vector<torch::Tensor> train_rank(int rank, int world, int port, const std::vector<torch::Tensor>& global_reals,
                                      uint64_t init_seed) {
  torch::Tensor reals_dummy;
  model::Generator g(nullptr), ema(nullptr);
  model::Discriminator d(nullptr);
  {
    // Model construction draws from the global generator; threads must not interleave there.
    static std::mutex m;
    std::lock_guard<std::mutex> lock(m);
    torch::manual_seed(init_seed);
    g = model::Generator(tiny(), 8);
    ema = model::Generator(tiny(), 8);
    d = model::Discriminator(tiny(), 8);
  }
  g->to(torch::kFloat64);
  ema->to(torch::kFloat64);
  d->to(torch::kFloat64);
  train::Adam og(*g, {}), od(*d, {});
  train::TrainerOptions o;
  o.arch = tiny();
  std::unique_ptr<dd::ProcessGroup> pg;
  std::unique_ptr<dd::GradientReducer> rg, rd;
  if (world > 1) {
    dd::RankEnv e;
    e.rank = e.local_rank = rank;
    e.world_size = world;
    e.master_port = static_cast<std::uint16_t>(port);
    pg = std::make_unique<dd::ProcessGroup>(e, dd::Backend::kGloo, 30s);
    rg = std::make_unique<dd::GradientReducer>(*g, *pg, 1 << 12, true);
    rd = std::make_unique<dd::GradientReducer>(*d, *pg, 1 << 12, true);
    rg->broadcast_from_rank0();
    rd->broadcast_from_rank0();
    o.parallel.rank = rank;
    o.parallel.world_size = world;
    o.parallel.average_d = [&] { rd->finish(); };
    o.parallel.average_g = [&] { rg->finish(); };
  }
  {
    torch::NoGradGuard ng;  // the EMA starts as a copy of G, as in the trainer
    auto src = g->parameters();
    auto dst = ema->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  train::TrainStep step(g, d, ema, og, od, o, at::make_generator<at::CPUGeneratorImpl>(77));
  for (const auto& batch : global_reals) {
    auto mine = train::rank_slice(batch, rank, world, model::mbstd_group(batch.size(0) / world, 4));
    step.run(mine, 8, 0.5);
  }
  std::vector<torch::Tensor> out;
  for (auto& p : g->parameters()) out.push_back(p.detach().clone());
  for (auto& p : d->parameters()) out.push_back(p.detach().clone());
  for (auto& p : ema->parameters()) out.push_back(p.detach().clone());
  return out;
}

}  // namespace

TEST(DistTrain, TwoRanksOfBatchFourEqualOneRankOfBatchEight) {
  torch::manual_seed(123);
  std::vector<torch::Tensor> batches;
  for (int s = 0; s < 3; ++s) batches.push_back(torch::rand({8, 3, 8, 8}, torch::kFloat64) * 2 - 1);
  auto single = train_rank(0, 1, 0, batches, 1);
  const int port = free_port();
  std::vector<torch::Tensor> r0, r1;
  std::thread t1([&] { r1 = train_rank(1, 2, port, batches, 999); });
  r0 = train_rank(0, 2, port, batches, 1);
  t1.join();
  ASSERT_EQ(r0.size(), single.size());
  ASSERT_EQ(r1.size(), single.size());
  double worst = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    EXPECT_TRUE(torch::equal(r0[i], r1[i])) << "ranks disagree on parameter " << i;
    worst = std::max(worst, ((r0[i] - single[i]).abs().max() / (single[i].abs().max() + 1e-12)).item<double>());
  }
  EXPECT_LT(worst, 1e-9) << "2 ranks x 4 differ from 1 rank x 8";
  // And the training really moved the weights (the comparison is not between two initial states).
  double moved = 0;
  torch::manual_seed(1);
  model::Generator g0(tiny(), 8);
  auto p0 = g0->parameters();
  for (size_t i = 0; i < p0.size(); ++i) moved = std::max(moved, (single[i] - p0[i].to(torch::kFloat64)).abs().max().item<double>());
  EXPECT_GT(moved, 1e-4);
}
