// The training recipe's parts: Adam across growth, the EMA ramp-up, the augmentations.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "deepzine/train/adam.h"
#include "deepzine/train/augment.h"
#include "deepzine/train/ema.h"

using namespace deepzine;

namespace {

// Two parameters: `old_block` trains from the start, `new_block` only once the "network grows".
struct TwoBlocks : torch::nn::Module {
  TwoBlocks() {
    old_block = register_parameter("old_block", torch::randn({64}));
    new_block = register_parameter("new_block", torch::randn({64}));
  }
  torch::Tensor old_block, new_block;
};

// One step on the loss sum(w * target) of the given parameter; returns how far each element moved.
torch::Tensor step_on(train::Adam& adam, torch::Tensor& param, const torch::Tensor& target) {
  torch::Tensor before = param.detach().clone();
  (param * target).sum().backward();
  adam.step();
  return (param.detach() - before).abs();
}

}  // namespace

TEST(AdamRecipe, FirstUpdateOfAParameterAfterGrowthIsTheLearningRate) {
  torch::manual_seed(1);
  TwoBlocks net;
  const double lr = 1e-3;
  train::Adam adam(net, {lr, 0.0, 0.99, 1e-8});
  torch::Tensor target = torch::randn({64});
  for (int i = 0; i < 300; ++i) step_on(adam, net.old_block, target);
  EXPECT_EQ(adam.steps_of("old_block"), 300);
  EXPECT_EQ(adam.steps_of("new_block"), 0);  // no gradient yet: untouched, no state
  // The network grew: the new block's first update is lr per element (Adam's bias correction at its
  // own step 1), not ~10x lr as with one shared step counter at step 300.
  torch::Tensor moved = step_on(adam, net.new_block, torch::randn({64}));
  EXPECT_NEAR(moved.max().item<double>(), lr, lr * 1e-3);
  EXPECT_NEAR(moved.min().item<double>(), lr, lr * 1e-3);
  EXPECT_EQ(adam.steps_of("new_block"), 1);
}

TEST(AdamRecipe, ResetRestartsTheWarmUp) {
  torch::manual_seed(2);
  TwoBlocks net;
  const double lr = 2e-3;
  train::Adam adam(net, {lr, 0.0, 0.99, 1e-8});
  torch::Tensor target = torch::randn({64});
  for (int i = 0; i < 50; ++i) step_on(adam, net.old_block, target * (i % 3 + 1));
  adam.reset();
  EXPECT_EQ(adam.steps_of("old_block"), 0);
  EXPECT_TRUE(adam.state().empty());
  torch::Tensor moved = step_on(adam, net.old_block, target * 0.01);  // small gradient, same unit step
  EXPECT_NEAR(moved.mean().item<double>(), lr, lr * 1e-3);
}

TEST(AdamRecipe, StateRoundTripsPerParameter) {
  torch::manual_seed(3);
  TwoBlocks a, b;
  b.old_block.detach().copy_(a.old_block.detach());
  b.new_block.detach().copy_(a.new_block.detach());
  train::Adam adam_a(a, {}), adam_b(b, {});
  torch::Tensor target = torch::randn({64});
  for (int i = 0; i < 7; ++i) step_on(adam_a, a.old_block, target * (i + 1));
  step_on(adam_a, a.new_block, target);
  model::TensorMap saved = adam_a.state();
  EXPECT_EQ(saved.at("old_block.step").item<int64_t>(), 7);
  EXPECT_EQ(saved.at("new_block.step").item<int64_t>(), 1);
  b.old_block.detach().copy_(a.old_block.detach());
  b.new_block.detach().copy_(a.new_block.detach());
  adam_b.load_state(saved);
  EXPECT_EQ(adam_b.steps_of("old_block"), 7);
  step_on(adam_a, a.old_block, target);
  step_on(adam_b, b.old_block, target);
  EXPECT_TRUE(torch::equal(a.old_block, b.old_block));
  model::TensorMap bad = saved;
  bad["old_block.exp_avg"] = torch::zeros({3});
  EXPECT_THROW(adam_b.load_state(bad), std::runtime_error);
}

TEST(EmaRecipe, HalfLifeIsCappedByTheImagesSeen) {
  train::EmaOptions o;  // 10 kimg, ramp-up 0.05
  // 1,600 images in: the half-life is 80 images = 5 batches of 16.
  EXPECT_NEAR(train::ema_beta(o, 16, 1600), std::pow(0.5, 16.0 / 80.0), 1e-12);
  // Far into training: the 10,000-image half-life.
  EXPECT_NEAR(train::ema_beta(o, 16, 10000000), std::pow(0.5, 16.0 / 10000.0), 1e-12);
  // A fixed decay: its own half-life, still capped by the ramp-up early on.
  o.fixed_beta = 0.999;
  EXPECT_NEAR(train::ema_beta(o, 16, 100000000), 0.999, 1e-9);
  EXPECT_LT(train::ema_beta(o, 16, 1600), 0.9);
  o.rampup = 0;
  EXPECT_NEAR(train::ema_beta(o, 16, 16), 0.999, 1e-9);
  o.fixed_beta.reset();
  o.half_life_kimg = 0;
  EXPECT_EQ(train::ema_beta(o, 16, 16), 0.0);  // no averaging: the EMA is G
  // Always a valid decay.
  train::EmaOptions d;
  for (int64_t seen : {int64_t{0}, int64_t{1}, int64_t{16}, int64_t{1} << 40}) {
    const double beta = train::ema_beta(d, 16, seen);
    EXPECT_GE(beta, 0.0);
    EXPECT_LT(beta, 1.0);
  }
}

TEST(AugmentRecipe, ParsesTheListAndRejectsFlips) {
  EXPECT_FALSE(train::parse_augment("none").any());
  auto o = train::parse_augment("translation, cutout,color");
  EXPECT_TRUE(o.translation && o.cutout && o.color);
  EXPECT_EQ(o.describe(), "translation,cutout,color");
  try {
    train::parse_augment("translation,flip");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'flip'"), std::string::npos) << e.what();
  }
}

TEST(AugmentRecipe, TranslationShiftsAndPadsWithWhite) {
  train::AugmentOptions o;
  o.translation = true;
  torch::Tensor page = torch::rand({1, 1, 16, 16}) * 2 - 1;
  torch::Tensor params = torch::zeros({1, 6}, torch::kDouble);
  params[0][0] = 2;   // 2 pixels right
  params[0][1] = -1;  // 1 pixel up
  params[0][5] = 1;
  torch::Tensor out = train::augment(page, params, o);
  using torch::indexing::Slice;
  EXPECT_TRUE(torch::equal(out.index({0, 0, Slice(0, 15), Slice(2, 16)}), page.index({0, 0, Slice(1, 16), Slice(0, 14)})));
  EXPECT_TRUE((out.index({0, 0, Slice(), Slice(0, 2)}) == 1).all().item<bool>());  // white where uncovered
  EXPECT_TRUE((out.index({0, 0, 15, Slice()}) == 1).all().item<bool>());
}

TEST(AugmentRecipe, CutoutWhitensOneSquareAndColorMovesBrightness) {
  train::AugmentOptions o;
  o.cutout = true;
  torch::Tensor page = -torch::ones({1, 1, 16, 16});
  torch::Tensor params = torch::zeros({1, 6}, torch::kDouble);
  params[0][2] = 8;
  params[0][3] = 8;
  params[0][5] = 1;
  torch::Tensor out = train::augment(page, params, o);
  EXPECT_EQ(out.eq(1).sum().item<int64_t>(), 16);  // a 4x4 square (cutout_ratio 0.25)
  o = train::parse_augment("color");
  params[0][4] = 0.2;  // brightness
  params[0][5] = 1.0;  // contrast unchanged
  out = train::augment(page, params, o);
  EXPECT_NEAR(out.mean().item<double>(), -0.8, 1e-6);
}

TEST(AugmentRecipe, IsDifferentiableAndDrawsReproducibly) {
  auto o = train::parse_augment("translation,cutout,color");
  auto rng_a = at::make_generator<at::CPUGeneratorImpl>(5), rng_b = at::make_generator<at::CPUGeneratorImpl>(5);
  torch::Tensor pa = train::draw_augment_params(o, 8, 32, rng_a), pb = train::draw_augment_params(o, 8, 32, rng_b);
  EXPECT_TRUE(torch::equal(pa, pb));
  EXPECT_LE(pa.select(1, 0).abs().max().item<double>(), 4.0);  // at most 1/8 of 32 pixels
  EXPECT_TRUE(torch::equal(pa.select(1, 0), pa.select(1, 0).round()));  // integer shifts only
  torch::Tensor x = torch::rand({8, 3, 32, 32}, torch::requires_grad());
  train::augment(x, pa, o).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
}

TEST(AugmentRecipe, ProbabilityChoosesWhichImagesAreTransformed) {
  auto o = train::parse_augment("translation,cutout,color");
  auto rng = at::make_generator<at::CPUGeneratorImpl>(9);
  torch::Tensor x = torch::rand({64, 1, 16, 16}) * 2 - 1;
  o.probability = 0.0;
  EXPECT_TRUE(torch::allclose(train::augment(x, train::draw_augment_params(o, 64, 16, rng), o), x, 0, 1e-6));
  o.probability = 0.25;
  torch::Tensor moved = (train::augment(x, train::draw_augment_params(o, 64, 16, rng), o) - x).abs();
  torch::Tensor changed = (moved > 1e-5).flatten(1).any(1);
  const int64_t count = changed.sum().item<int64_t>();
  // Each image is untouched with probability 0.75^3 = 0.42: about 37 of 64 changed.
  EXPECT_GT(count, 20);
  EXPECT_LT(count, 54);
}
