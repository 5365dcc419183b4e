// deepzine_dist on CPU with Gloo over loopback. Ranks are threads of this process: each has its own
// TCPStore client/server, Gloo context and model copy, exactly as separate processes would.
#include "deepzine/dist/dist.h"

#include <gtest/gtest.h>

#include "support/free_port.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <torch/torch.h>

#include <cstdlib>
#include <thread>

namespace dd = deepzine::dist;
using namespace std::chrono_literals;

namespace {

using deepzine::testing_support::free_port;

dd::RankEnv env_for(int rank, int world, int port) {
  dd::RankEnv e;
  e.rank = rank;
  e.local_rank = rank;
  e.world_size = world;
  e.master_addr = "127.0.0.1";
  e.master_port = static_cast<std::uint16_t>(port);
  return e;
}

struct NetImpl : torch::nn::Module {
  NetImpl() {
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(8 * 8 * 8, 1));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::leaky_relu(c1(x), 0.2);
    x = torch::leaky_relu(c2(x), 0.2);
    return fc(x.flatten(1));
  }
  torch::nn::Conv2d c1{nullptr}, c2{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Net);

// Per-sample loss averaged over the batch, as the WGAN-GP losses are; a gradient penalty on the
// inputs makes backward go through a double-backward graph like the trainer's.
torch::Tensor loss_fn(Net& net, const torch::Tensor& x) {
  auto xi = x.detach().requires_grad_(true);
  auto out = net->forward(xi);
  auto g = torch::autograd::grad({out.sum()}, {xi}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  auto gp = (g.flatten(1).norm(2, 1) - 1).pow(2);
  return (out.squeeze(1).pow(2) + 10 * gp).mean();
}

std::vector<torch::Tensor> train(Net net, int rank, int world, const torch::Tensor& data, int steps,
                                 dd::ProcessGroup* pg, bool overlap, std::size_t bucket_bytes) {
  std::unique_ptr<dd::GradientReducer> red;
  if (pg) {
    red = std::make_unique<dd::GradientReducer>(*net, *pg, bucket_bytes, overlap);
    red->broadcast_from_rank0();
  }
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2).betas({0.0, 0.99}));
  const int64_t per_rank = data.size(1) / world;
  for (int s = 0; s < steps; ++s) {
    auto x = data[s].narrow(0, rank * per_rank, per_rank);
    opt.zero_grad();
    loss_fn(net, x).backward();
    if (red) red->finish();
    opt.step();
  }
  std::vector<torch::Tensor> out;
  for (auto& p : net->parameters()) out.push_back(p.detach().clone());
  return out;
}

void check_equivalence(bool overlap, std::size_t bucket_bytes) {
  torch::manual_seed(1);
  const int steps = 4, B = 6;
  auto data = torch::randn({steps, 2 * B, 3, 8, 8});
  torch::manual_seed(7);
  Net reference;
  auto single = train(reference, 0, 1, data, steps, nullptr, false, 0);

  const int port = free_port();
  std::vector<std::vector<torch::Tensor>> result(2);
  std::vector<std::string> errors(2);
  // Models are built here, not in the rank threads: the global generator is not per thread.
  // Rank 1 starts from different weights: broadcast_from_rank0 must fix that.
  std::vector<Net> nets;
  for (int r = 0; r < 2; ++r) {
    torch::manual_seed(r == 0 ? 7 : 99);
    nets.emplace_back();
  }
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      try {
        dd::ProcessGroup pg(env_for(r, 2, port), dd::Backend::kGloo, 30s);
        result[r] = train(nets[r], r, 2, data, steps, &pg, overlap, bucket_bytes);
        pg.barrier();
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  ASSERT_EQ(result[0].size(), single.size());
  for (size_t i = 0; i < single.size(); ++i) {
    EXPECT_TRUE(torch::equal(result[0][i], result[1][i])) << "ranks diverged at parameter " << i;
    EXPECT_TRUE(torch::allclose(result[0][i], single[i], 1e-4, 1e-5))
        << "parameter " << i << " max diff " << (result[0][i] - single[i]).abs().max().item<float>();
  }
  // The run moved the parameters (the comparison is not trivially true).
  torch::manual_seed(7);
  Net init;
  EXPECT_FALSE(torch::allclose(init->parameters()[0], single[0], 1e-3, 1e-3));
}

}  // namespace

TEST(DistEnv, ReadsTorchrunVariables) {
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "10.0.0.5", 1);
  setenv("MASTER_PORT", "29611", 1);
  auto e = dd::rank_env_from_environment();
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.5");
  EXPECT_EQ(e.master_port, 29611);
  setenv("RANK", "4", 1);
  try {
    dd::rank_env_from_environment();
    FAIL() << "RANK >= WORLD_SIZE accepted";
  } catch (const std::invalid_argument& ex) {
    EXPECT_NE(std::string(ex.what()).find("RANK"), std::string::npos) << ex.what();
  }
  setenv("RANK", "1", 1);
  setenv("MASTER_PORT", "http", 1);
  EXPECT_THROW(dd::rank_env_from_environment(), std::invalid_argument);
  for (auto v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
  EXPECT_FALSE(dd::rank_env_from_environment().distributed());
}

TEST(DistReducer, TwoRanksMatchOneRankDoubleBatchBucketedOverlap) {
  check_equivalence(/*overlap=*/true, /*bucket_bytes=*/2048);  // several buckets
}

TEST(DistReducer, TwoRanksMatchOneRankDoubleBatchAfterBackward) {
  check_equivalence(/*overlap=*/false, /*bucket_bytes=*/25u << 20);  // one bucket
}

TEST(DistProcessGroup, PortInUseIsReported) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  try {
    dd::ProcessGroup pg(env_for(0, 2, port), dd::Backend::kGloo, 2s);
    FAIL() << "a process group started on a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  close(fd);
}

TEST(DistProcessGroup, MissingPeerTimesOut) {
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(dd::ProcessGroup(env_for(0, 2, free_port()), dd::Backend::kGloo, 1500ms), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
}
