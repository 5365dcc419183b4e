#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "deepzine/model/layers.h"
#include "deepzine/model/pggan.h"
#include "deepzine/ops/ops.h"
#include "deepzine/train/trainer.h"

using namespace deepzine;
using model::ArchitectureSpec;

namespace {
ArchitectureSpec tiny() {
  ArchitectureSpec a;
  a.latent_size = 8;
  a.channels = 3;
  a.max_filter = 8;
  a.filter_reduction_depth = 4;  // filters halve from 32x32
  return a;
}
}  // namespace

TEST(Pggan, ShapesAtEveryResolutionStableAndTransition) {
  torch::manual_seed(0);
  model::Generator g(tiny(), 32);
  model::Discriminator d(tiny(), 32);
  auto z = torch::randn({4, 8});
  for (int r = 4; r <= 32; r *= 2) {
    for (double alpha : {1.0, 0.3}) {
      if (r == 4 && alpha < 1) continue;
      auto img = g->forward(z, r, alpha);
      EXPECT_EQ(img.sizes(), (std::vector<int64_t>{4, 3, r, r})) << r;
      auto score = d->forward(img, r, alpha);
      EXPECT_EQ(score.sizes(), (std::vector<int64_t>{4, 1})) << r;
      EXPECT_TRUE(torch::isfinite(score).all().item<bool>());
    }
  }
  EXPECT_THROW(g->forward(z, 64), std::invalid_argument);
  EXPECT_THROW(g->forward(z, 12), std::invalid_argument);
}

TEST(Pggan, ParameterCountsMatchTheSchedule) {
  model::Generator g(tiny(), 32);
  model::Discriminator d(tiny(), 32);
  for (int r = 4; r <= 32; r *= 2) {
    for (bool t : {false, true}) {
      EXPECT_EQ(g->parameter_count(r, t), model::generator_parameter_count(tiny(), r, t)) << r << t;
      EXPECT_EQ(d->parameter_count(r, t), model::discriminator_parameter_count(tiny(), r, t)) << r << t;
    }
  }
}

// An anchor outside this code: Karras et al. 2018 (Table 2, the 1024x1024 CelebA-HQ network: latent
// 512, 512 feature maps up to 32x32, halving from 64x64 to 16 at 1024x1024) report 23.1M parameters
// for G and for D. The same configuration here, built at full size (the modules themselves, not the
// formula), lands on both.
TEST(Pggan, ParameterCountsMatchKarrasEtAl2018AtFullSize) {
  model::ArchitectureSpec karras;
  karras.latent_size = 512;
  karras.channels = 3;
  karras.max_filter = 512;
  karras.filter_reduction_depth = 5;  // filter_num_reduction_transition_size 64
  EXPECT_EQ(karras.filters(32), 512);
  EXPECT_EQ(karras.filters(64), 256);
  EXPECT_EQ(karras.filters(1024), 16);
  model::Generator g(karras, 1024);
  model::Discriminator d(karras, 1024);
  const double g_count = static_cast<double>(g->parameter_count(1024, false));
  const double d_count = static_cast<double>(d->parameter_count(1024, false));
  EXPECT_NEAR(g_count / 1e6, 23.1, 0.05) << g_count;
  EXPECT_NEAR(d_count / 1e6, 23.1, 0.05) << d_count;
}

TEST(Layers, EqualizedLearningRateScalesWeightsByHesConstant) {
  torch::manual_seed(1);
  model::EqualizedConv2dOptions o;
  o.in_channels = 8;
  o.out_channels = 16;
  o.kernel_size = 3;
  model::EqualizedConv2d conv(o);
  EXPECT_NEAR(conv->scale(), std::sqrt(2.0) / std::sqrt(8.0 * 9.0), 1e-12);
  // Stored weights are N(0, 1): the scale is applied at run time.
  EXPECT_NEAR(conv->weight.std().item<double>(), 1.0, 0.1);
  {
    torch::NoGradGuard ng;
    conv->bias.uniform_(-1, 1);
  }
  auto x = torch::randn({2, 8, 5, 5});
  auto expect = torch::leaky_relu(torch::conv2d(x, conv->weight * conv->scale(), conv->bias, 1, 1), 0.2);
  EXPECT_TRUE(torch::allclose(conv->forward(x), expect, 1e-5, 1e-6));

  model::EqualizedLinearOptions l;
  l.in_features = 50;
  l.out_features = 3;
  l.gain = 1.0;
  EXPECT_NEAR(model::EqualizedLinear(l)->scale(), 1.0 / std::sqrt(50.0), 1e-12);
}

TEST(Ops, PixelNormAgainstHandComputedNumbers) {
  // One pixel with channels (3, 4): mean of squares 12.5.
  auto x = torch::tensor({3.0f, 4.0f}).view({1, 2, 1, 1});
  auto y = model::pixel_norm(x, 0.0);
  EXPECT_NEAR(y[0][0][0][0].item<float>(), 3.0 / std::sqrt(12.5), 1e-6);
  EXPECT_NEAR(y[0][1][0][0].item<float>(), 4.0 / std::sqrt(12.5), 1e-6);
  auto z = ops::bias_act(x, torch::tensor({1.0f, -6.0f}), 0.2, 1.0, true, 0.0);
  // (4, -2) -> leaky (4, -0.4) -> mean square (16 + 0.16)/2 = 8.08
  EXPECT_NEAR(z[0][0][0][0].item<float>(), 4.0 / std::sqrt(8.08), 1e-5);
  EXPECT_NEAR(z[0][1][0][0].item<float>(), -0.4 / std::sqrt(8.08), 1e-5);
}

TEST(Ops, MinibatchStddevAgainstHandComputedNumbers) {
  // 4 samples, 1 channel, 1 pixel, group size 2: groups are samples {0, 2} and {1, 3} (strided, as
  // the PGGAN reference). Values 1, 10, 3, 14: stddevs (population) 1 and 2.
  auto x = torch::tensor({1.0f, 10.0f, 3.0f, 14.0f}).view({4, 1, 1, 1});
  auto y = ops::minibatch_stddev(x, 2, 0.0);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{4, 2, 1, 1}));
  EXPECT_NEAR(y[0][1][0][0].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(y[2][1][0][0].item<float>(), 1.0f, 1e-6);
  EXPECT_NEAR(y[1][1][0][0].item<float>(), 2.0f, 1e-6);
  EXPECT_NEAR(y[3][1][0][0].item<float>(), 2.0f, 1e-6);
  EXPECT_EQ(model::mbstd_group(6, 4), 3);
  EXPECT_EQ(model::mbstd_group(7, 4), 7);  // no divisor in 2..4: the whole batch, not groups of 1
  EXPECT_EQ(model::mbstd_group(1, 4), 1);
}

TEST(Pggan, FadeInAtAlphaZeroEqualsTheOldPath) {
  torch::manual_seed(2);
  model::Generator g(tiny(), 16);
  model::Discriminator d(tiny(), 16);
  auto z = torch::randn({4, 8});
  auto old = g->forward(z, 8, 1.0);
  auto faded = g->forward(z, 16, 0.0);
  EXPECT_TRUE(torch::allclose(faded, torch::upsample_nearest2d(old, {16, 16}), 1e-5, 1e-6));
  auto x = torch::randn({4, 3, 16, 16});
  EXPECT_TRUE(torch::allclose(d->forward(x, 16, 0.0), d->forward(torch::avg_pool2d(x, {2, 2}), 8, 1.0), 1e-5, 1e-5));
  // And alpha 1 is the new path alone (differs from the old one).
  EXPECT_FALSE(torch::allclose(g->forward(z, 16, 1.0), faded, 1e-3, 1e-3));
}

TEST(Loss, GradientPenaltyMatchesFiniteDifferences) {
  torch::manual_seed(3);
  ArchitectureSpec a = tiny();
  model::Generator g(a, 8);
  model::Discriminator d(a, 8);
  g->to(torch::kFloat64);
  d->to(torch::kFloat64);
  model::Generator ema(a, 8);
  train::Adam og(*g, {}), od(*d, {});
  train::TrainerOptions o;
  o.arch = a;
  train::TrainStep step(g, d, ema, og, od, o, at::make_generator<at::CPUGeneratorImpl>(42));
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto reals = torch::randn({2, 3, 8, 8}, opts), fakes = torch::randn({2, 3, 8, 8}, opts);
  double gp = step.gradient_penalty(reals, fakes, 8, 1.0).item<double>();
  // Recompute: same blend weights (the step's noise generator); gradient of the summed scores
  // (minibatch stddev couples the samples) with respect to each sample, by central differences.
  auto eps = at::rand({2, 1, 1, 1}, at::make_generator<at::CPUGeneratorImpl>(42), opts);
  auto mixed = (eps * reals + (1 - eps) * fakes).detach();
  double expected = 0;
  torch::NoGradGuard ng;
  for (int64_t s = 0; s < 2; ++s) {
    auto flat = mixed.clone();
    double sq = 0;
    const double h = 1e-5;
    for (int64_t i = 0; i < flat[s].numel(); ++i) {
      auto view = flat[s].view({-1});
      const double orig = view[i].item<double>();
      view[i] = orig + h;
      const double up = d->forward(flat, 8, 1.0).sum().item<double>();
      view[i] = orig - h;
      const double down = d->forward(flat, 8, 1.0).sum().item<double>();
      view[i] = orig;
      const double gi = (up - down) / (2 * h);
      sq += gi * gi;
    }
    expected += std::pow(std::sqrt(sq) - 1.0, 2) / 2;
  }
  EXPECT_NEAR(gp, expected, 1e-6 * std::max(1.0, expected));
}

TEST(Loss, PenaltyBackpropagatesThroughTheDiscriminator) {
  torch::manual_seed(4);
  model::Generator g(tiny(), 8), ema(tiny(), 8);
  model::Discriminator d(tiny(), 8);
  train::Adam og(*g, {}), od(*d, {});
  train::TrainerOptions o;
  o.arch = tiny();
  train::TrainStep step(g, d, ema, og, od, o);
  auto gp = step.gradient_penalty(torch::randn({4, 3, 8, 8}), torch::randn({4, 3, 8, 8}), 8, 0.5);
  gp.backward();  // double backward through every D op
  int with_grad = 0;
  for (auto& p : d->parameters()) {
    if (p.grad().defined()) {
      ++with_grad;
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
  EXPECT_GT(with_grad, 6);
}

// The whole D + G step through the fused ops (their host twins on CPU) equals the ATen reference:
// losses, the gradient penalty's double backward and every parameter gradient, mid fade-in.
TEST(Ops, FusedOpsGiveTheReferenceTrainingGradients) {
  torch::manual_seed(5);
  model::Generator g(tiny(), 16), ema(tiny(), 16);
  model::Discriminator d(tiny(), 16);
  g->to(torch::kFloat64);
  d->to(torch::kFloat64);
  train::Adam og(*g, {}), od(*d, {});
  train::TrainerOptions o;
  o.arch = tiny();
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto z = torch::randn({4, 8}, opts), reals = torch::randn({4, 3, 16, 16}, opts);
  std::vector<torch::Tensor> params = g->parameters();
  for (auto& p : d->parameters()) params.push_back(p);
  auto run = [&](bool fused) {
    ops::set_host_kernels_enabled(fused);
    auto fakes = g->forward(z, 16, 0.4);
    train::TrainStep step(g, d, ema, og, od, o, at::make_generator<at::CPUGeneratorImpl>(9));
    auto loss = d->forward(fakes, 16, 0.4).mean() - d->forward(reals, 16, 0.4).mean() +
                step.gradient_penalty(reals, fakes, 16, 0.4);
    auto grads = torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
    ops::set_host_kernels_enabled(false);
    return std::make_pair(loss, grads);
  };
  auto [ref_loss, ref_grads] = run(false);
  auto [fused_loss, fused_grads] = run(true);
  EXPECT_NEAR(fused_loss.item<double>(), ref_loss.item<double>(), 1e-10 * std::abs(ref_loss.item<double>()));
  int compared = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_EQ(fused_grads[i].defined(), ref_grads[i].defined()) << "parameter " << i;
    if (!ref_grads[i].defined()) continue;
    double scale = std::max(ref_grads[i].norm().item<double>(), 1e-12);
    EXPECT_LT((fused_grads[i] - ref_grads[i]).norm().item<double>() / scale, 1e-9) << "parameter " << i;
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

namespace {
// Parameters of D and G after `steps` training steps from seed 6 with the given options.
std::vector<torch::Tensor> trained_parameters(train::TrainerOptions o, int steps,
                                              std::vector<train::StepStats>* stats = nullptr) {
  torch::manual_seed(6);
  model::Generator g(tiny(), 8), ema(tiny(), 8);
  model::Discriminator d(tiny(), 8);
  train::Adam og(*g, {}), od(*d, {});
  o.arch = tiny();
  train::TrainStep step(g, d, ema, og, od, o);
  auto reals = torch::rand({4, 3, 8, 8}) * 2 - 1;
  std::vector<train::StepLosses> losses;
  for (int i = 0; i < steps; ++i) losses.push_back(step.run(reals, 8, 0.5));
  for (const auto& s : train::read_losses(losses)) {
    EXPECT_TRUE(std::isfinite(s.d_loss) && std::isfinite(s.g_loss) && std::isfinite(s.gp));
  }
  if (stats) *stats = train::read_losses(losses);
  std::vector<torch::Tensor> out;
  for (auto& p : g->parameters()) out.push_back(p.detach().clone());
  for (auto& p : d->parameters()) out.push_back(p.detach().clone());
  return out;
}
double max_rel_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, ((a[i] - b[i]).norm() / (b[i].norm() + 1e-12)).item<double>());
  return worst;
}
}  // namespace

TEST(Step, ChannelsLastTrainsLikeContiguous) {
  train::TrainerOptions o;
  auto base = trained_parameters(o, 3);
  o.channels_last = true;
  EXPECT_LT(max_rel_diff(trained_parameters(o, 3), base), 1e-4);
}

// mixed_precision drives bf16 autocast (CPU autocast here, CUDA's on a GPU): the step runs, the
// parameters stay fp32 and the first step's D loss and penalty (before any update) are the fp32
// ones to bf16 accuracy (~3 significant digits).
TEST(Step, Bf16AutocastKeepsFp32ParametersAndTracksFp32) {
  train::TrainerOptions o;
  std::vector<train::StepStats> base, mixed;
  trained_parameters(o, 2, &base);
  o.mixed_precision = true;
  for (auto& p : trained_parameters(o, 2, &mixed)) EXPECT_EQ(p.scalar_type(), torch::kFloat);
  EXPECT_NE(mixed[0].d_loss, base[0].d_loss) << "autocast changed nothing: bf16 was not used";
  EXPECT_NEAR(mixed[0].d_loss, base[0].d_loss, 0.05 * std::abs(base[0].d_loss) + 1e-3);
  EXPECT_NEAR(mixed[0].gp, base[0].gp, 0.05 * std::abs(base[0].gp) + 1e-3);
}

TEST(Adam, MatchesLibTorchAdam) {
  torch::manual_seed(5);
  torch::nn::Linear a(4, 3), b(4, 3);
  {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < a->parameters().size(); ++i) b->parameters()[i].copy_(a->parameters()[i]);
  }
  train::Adam mine(*a, {1e-2, 0.0, 0.99, 1e-8});
  torch::optim::Adam ref(b->parameters(), torch::optim::AdamOptions(1e-2).betas({0.0, 0.99}).eps(1e-8));
  for (int s = 0; s < 5; ++s) {
    auto x = torch::randn({6, 4});
    a->forward(x).pow(2).sum().backward();
    mine.step();
    ref.zero_grad();
    b->forward(x).pow(2).sum().backward();
    ref.step();
  }
  for (size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(torch::allclose(a->parameters()[i], b->parameters()[i], 1e-5, 1e-6));
  }
  EXPECT_EQ(mine.steps_of("weight"), 5);
  EXPECT_EQ(mine.state().count("weight.exp_avg_sq"), 1u);
}
