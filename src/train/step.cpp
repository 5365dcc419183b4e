// One training step (D: WGAN-GP + drift; G: the Wasserstein loss -D(G(z)); then the EMA update).
// LibTorch only, so that it builds and benchmarks on machines without the rest of the project.
#include <torch/torch.h>

#include "deepzine/ops/ops.h"
#include "deepzine/train/augment.h"
#include "deepzine/train/autocast.h"
#include "deepzine/train/ema.h"
#include "deepzine/train/step.h"

namespace deepzine::train {

torch::Tensor rank_slice(const torch::Tensor& global, int rank, int world, int64_t group) {
  if (world == 1) return global;
  const int64_t b = global.size(0) / world, m = b / group;
  std::vector<int64_t> shape = global.sizes().vec();
  std::vector<int64_t> grouped{group, world * m};
  grouped.insert(grouped.end(), shape.begin() + 1, shape.end());
  shape[0] = b;
  return global.reshape(grouped).narrow(1, rank * m, m).reshape(shape);
}

TrainStep::TrainStep(model::Generator g, model::Discriminator d, model::Generator g_ema, Adam& opt_g, Adam& opt_d,
                     const TrainerOptions& options, std::optional<at::Generator> noise)
    : g_(g), g_ema_(g_ema), d_(d), opt_g_(opt_g), opt_d_(opt_d), options_(options),
      noise_(noise ? *noise : at::make_generator<at::CPUGeneratorImpl>(options.seed + 2)) {
  if (options_.channels_last) {
    for (auto* m : {static_cast<torch::nn::Module*>(g_.get()), static_cast<torch::nn::Module*>(d_.get()),
                    static_cast<torch::nn::Module*>(g_ema_.get())}) {
      for (auto& p : m->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

torch::Tensor TrainStep::noise(bool normal, int64_t b, std::vector<int64_t> dims, const torch::Tensor& like) {
  const int world = options_.parallel.world_size;
  std::vector<int64_t> shape{world * b};
  shape.insert(shape.end(), dims.begin(), dims.end());
  auto cpu = torch::TensorOptions().dtype(like.scalar_type());
  torch::Tensor t = share_of(normal ? at::randn(shape, noise_, cpu) : at::rand(shape, noise_, cpu), b);
  if (!like.is_cuda()) return t.to(like.device());
  return t.pin_memory().to(like.device(), /*non_blocking=*/true);  // no host wait for the GPU
}

torch::Tensor TrainStep::gradient_penalty(const torch::Tensor& reals, const torch::Tensor& fakes, int res,
                                          double alpha) {
  auto eps = noise(false, reals.size(0), {1, 1, 1}, reals);
  torch::Tensor mixed = (eps * reals + (1 - eps) * fakes).detach().requires_grad_(true);
  torch::Tensor score = d_->forward(mixed, res, alpha);
  torch::Tensor grad = torch::autograd::grad({score.sum()}, {mixed}, {}, /*retain_graph=*/true,
                                             /*create_graph=*/true)[0];
  return (grad.flatten(1).norm(2, 1) - 1.0).pow(2).mean();
}

torch::Tensor TrainStep::share_of(const torch::Tensor& global, int64_t b) const {
  return rank_slice(global, options_.parallel.rank, options_.parallel.world_size, model::mbstd_group(b, 4))
      .contiguous();
}

torch::Tensor TrainStep::augmented(const torch::Tensor& images) {
  if (!options_.augment.any()) return images;
  const int64_t b = images.size(0);
  torch::Tensor params =
      draw_augment_params(options_.augment, options_.parallel.world_size * b, images.size(2), noise_);
  return augment(images, share_of(params, b), options_.augment);
}

std::vector<StepStats> read_losses(const std::vector<StepLosses>& losses) {
  std::vector<StepStats> out(losses.size());
  if (losses.empty()) return out;
  std::vector<torch::Tensor> rows;
  for (const auto& step : losses) {
    auto opts = step.d_loss.options().dtype(torch::kDouble);
    auto value = [&](const torch::Tensor& t) { return t.defined() ? t.to(torch::kDouble) : torch::zeros({}, opts); };
    rows.push_back(torch::stack({value(step.d_loss), value(step.g_loss), value(step.gp), value(step.drift)}));
  }
  torch::Tensor host = torch::stack(rows).cpu();
  auto a = host.accessor<double, 2>();
  for (size_t i = 0; i < losses.size(); ++i) out[i] = {a[i][0], a[i][1], a[i][2], a[i][3]};
  return out;
}

StepLosses TrainStep::run(const torch::Tensor& reals_in, int res, double alpha, std::optional<double> ema_decay) {
  StepLosses losses;
  const int64_t b = reals_in.size(0);
  // During a fade-in the reals are blended like G's output: upsampled half-resolution -> full.
  torch::Tensor reals = alpha < 1.0 && res > 4
                            ? ops::upsample_lerp(torch::avg_pool2d(reals_in, {2, 2}), reals_in, alpha)
                            : reals_in;
  if (options_.channels_last) reals = reals.contiguous(at::MemoryFormat::ChannelsLast);
  const bool amp = options_.mixed_precision;
  const auto dev = reals.device().type();
  for (auto& p : d_->parameters()) p.requires_grad_(true);
  for (int i = 0; i < options_.discriminator_updates; ++i) {
    torch::Tensor fakes, d_reals;
    torch::Tensor d_real, d_fake;
    {
      Bf16Autocast autocast(amp, dev);
      {
        torch::NoGradGuard no_grad;
        fakes = g_->forward(noise(true, b, {options_.arch.latent_size}, reals), res, alpha).to(reals.scalar_type());
      }
      // D sees reals and fakes through independent draws of the same random transforms (none when
      // augment is off); the penalty below is taken on blends of what D saw.
      d_reals = augmented(reals);
      fakes = augmented(fakes);
      d_real = d_->forward(d_reals, res, alpha).to(reals.scalar_type());
      d_fake = d_->forward(fakes, res, alpha).to(reals.scalar_type());
    }
    torch::Tensor gp = gradient_penalty(d_reals, fakes, res, alpha);  // fp32: outside autocast
    torch::Tensor drift = d_real.pow(2).mean();
    torch::Tensor loss = d_fake.mean() - d_real.mean() + options_.loss.gp_lambda * gp + options_.loss.drift * drift;
    opt_d_.zero_grad();
    loss.backward();
    if (options_.parallel.average_d) options_.parallel.average_d();
    opt_d_.step();
    losses.d_loss = loss.detach();
    losses.gp = gp.detach();
    losses.drift = drift.detach();
  }
  for (auto& p : d_->parameters()) p.requires_grad_(false);  // G's step needs no D gradients
  for (int i = 0; i < options_.generator_updates; ++i) {
    torch::Tensor loss;
    {
      Bf16Autocast autocast(amp, dev);
      torch::Tensor fakes = augmented(g_->forward(noise(true, b, {options_.arch.latent_size}, reals), res, alpha));
      loss = -d_->forward(fakes, res, alpha).to(reals.scalar_type()).mean();
    }
    opt_g_.zero_grad();
    loss.backward();
    if (options_.parallel.average_g) options_.parallel.average_g();
    opt_g_.step();
    losses.g_loss = loss.detach();
  }
  for (auto& p : d_->parameters()) p.requires_grad_(true);
  {
    torch::NoGradGuard no_grad;
    // Without a decay from the trainer: the average's steady state (half-life, no ramp-up).
    const double beta = ema_decay ? *ema_decay : ema_beta(options_.ema, b * options_.parallel.world_size, INT64_MAX / 2);
    auto src = g_->parameters();
    auto dst = g_ema_->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].lerp_(src[i], 1.0 - beta);
  }
  return losses;
}

}  // namespace deepzine::train
