// One training step (D: WGAN-GP + drift; G: the Wasserstein loss -D(G(z)); then the EMA update).
// LibTorch only, so that it builds and benchmarks on machines without the rest of the project.
#include <torch/torch.h>

#include "deepzine/ops/ops.h"
#include "deepzine/train/trainer.h"

namespace deepzine::train {

TrainStep::TrainStep(model::Generator g, model::Discriminator d, model::Generator g_ema, Adam& opt_g, Adam& opt_d,
                     const TrainerOptions& options)
    : g_(g), g_ema_(g_ema), d_(d), opt_g_(opt_g), opt_d_(opt_d), o_(options) {}

torch::Tensor TrainStep::gradient_penalty(const torch::Tensor& reals, const torch::Tensor& fakes, int res,
                                          double alpha) {
  auto eps = torch::rand({reals.size(0), 1, 1, 1}, reals.options());
  torch::Tensor mixed = (eps * reals + (1 - eps) * fakes).detach().requires_grad_(true);
  torch::Tensor score = d_->forward(mixed, res, alpha);
  torch::Tensor grad = torch::autograd::grad({score.sum()}, {mixed}, {}, /*retain_graph=*/true,
                                             /*create_graph=*/true)[0];
  return (grad.flatten(1).norm(2, 1) - 1.0).pow(2).mean();
}

StepStats TrainStep::run(const torch::Tensor& reals_in, int res, double alpha) {
  StepStats s;
  const int64_t b = reals_in.size(0);
  const auto opts = reals_in.options();
  // During a fade-in the reals are blended like G's output: upsampled half-resolution -> full.
  torch::Tensor reals = alpha < 1.0 && res > 4
                            ? ops::upsample_lerp(torch::avg_pool2d(reals_in, {2, 2}), reals_in, alpha)
                            : reals_in;
  for (auto& p : d_->parameters()) p.requires_grad_(true);
  for (int i = 0; i < o_.discriminator_updates; ++i) {
    torch::Tensor fakes;
    {
      torch::NoGradGuard no_grad;
      fakes = g_->forward(torch::randn({b, o_.arch.latent_size}, opts), res, alpha);
    }
    torch::Tensor d_real = d_->forward(reals, res, alpha);
    torch::Tensor d_fake = d_->forward(fakes, res, alpha);
    torch::Tensor gp = gradient_penalty(reals, fakes, res, alpha);
    torch::Tensor drift = d_real.pow(2).mean();
    torch::Tensor loss = d_fake.mean() - d_real.mean() + o_.loss.gp_lambda * gp + o_.loss.drift * drift;
    opt_d_.zero_grad();
    loss.backward();
    opt_d_.step();
    s.d_loss = loss.item<double>();
    s.gp = gp.item<double>();
    s.drift = drift.item<double>();
  }
  for (auto& p : d_->parameters()) p.requires_grad_(false);  // G's step needs no D gradients
  for (int i = 0; i < o_.generator_updates; ++i) {
    torch::Tensor fakes = g_->forward(torch::randn({b, o_.arch.latent_size}, opts), res, alpha);
    torch::Tensor loss = -d_->forward(fakes, res, alpha).mean();
    opt_g_.zero_grad();
    loss.backward();
    opt_g_.step();
    s.g_loss = loss.item<double>();
  }
  for (auto& p : d_->parameters()) p.requires_grad_(true);
  {
    torch::NoGradGuard no_grad;
    auto src = g_->parameters();
    auto dst = g_ema_->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].lerp_(src[i], 1.0 - o_.ema_beta);
  }
  return s;
}

}  // namespace deepzine::train
