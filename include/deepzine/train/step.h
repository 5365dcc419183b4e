#pragma once
// One training step (D: WGAN-GP + drift; G: -D(G(z)); then the EMA update) and the options of a
// training run. LibTorch only (target deepzine_train_step), so that it builds and benchmarks on machines
// without the rest of the project; the progressive Trainer (trainer.h) drives it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "deepzine/model/pggan.h"
#include "deepzine/model/schedule.h"
#include "deepzine/train/adam.h"
#include "deepzine/train/augment.h"
#include "deepzine/train/ema.h"

namespace deepzine::train {

struct LossOptions {
  double gp_lambda = 10.0;     // WGAN-GP weight of (||grad D|| - 1)^2
  double drift = 0.001;        // epsilon_drift * D(real)^2 keeps scores near 0
};

// Data parallelism: set by the train stage when several processes train together (src/dist).
struct ParallelHooks {
  int rank = 0, world_size = 1;
  // After the models are built and restored: copy rank 0's weights everywhere, prepare averaging.
  std::function<void(model::Generator&, model::Discriminator&)> attach;
  // Average D's / G's gradients over the ranks (after backward, before the optimizer step).
  std::function<void()> average_d, average_g;
  // True on every rank when `flag` is true on any. Stop requests must be agreed on, or the ranks
  // would wait for each other in the next all-reduce.
  std::function<bool(bool)> any;
  bool writer() const { return rank == 0; }
};

// Rank `rank`'s share of a global batch [world * b, ...], split so that the minibatch-stddev groups
// of D (`group` samples strided by b / group) are the same as in one process with the whole batch:
// N ranks x batch b then compute exactly what one process with batch N*b does.
torch::Tensor rank_slice(const torch::Tensor& global, int rank, int world_size, int64_t group);

struct TrainerOptions {
  model::ArchitectureSpec arch;
  model::ScheduleSpec schedule;
  AdamOptions adam;
  LossOptions loss;
  int discriminator_updates = 1, generator_updates = 1;
  EmaOptions ema;
  AugmentOptions augment;  // D's inputs, reals and fakes alike
  int64_t save_interval = 1000, sample_interval = 400, log_interval = 40;
  std::filesystem::path log_dir = "./log", samples_dir = "./samples";
  int swd_images = 1024;  // per side at each stage end; 0: off
  torch::Device device = torch::kCPU;
  uint64_t seed = 0;
  // bf16 autocast for the loss forwards (config mixed_precision, GPU only); the gradient penalty,
  // the losses and the optimiser stay fp32.
  bool mixed_precision = false;
  // Weights and batches in channels-last layout (faster convolutions on tensor cores).
  bool channels_last = false;
  ParallelHooks parallel;
  // Called on the writer rank after each logged step (false) and each stage end (true): the train
  // stage rebuilds log_dir/report.html there.
  std::function<void(bool stage_end)> on_progress;
};

struct StepStats {
  double d_loss = 0, g_loss = 0, gp = 0, drift = 0;
};

// A step's losses as detached 0-d tensors on the training device: reading them synchronises with
// the GPU, so the trainer reads a batch of steps at once (every log_interval) instead of every step.
struct StepLosses {
  torch::Tensor d_loss, g_loss, gp, drift;
};
// One host transfer for all of them.
std::vector<StepStats> read_losses(const std::vector<StepLosses>& losses);

// One training step at a resolution and alpha: D updates (WGAN-GP + drift), then G updates, then the
// EMA update. Kept separate so benchmarks time exactly what training runs.
class TrainStep {
 public:
  // `noise`: the CPU generator of latents and penalty blends (default: one seeded from options.seed).
  // With several ranks every rank draws the global batch's noise from it and uses its rank_slice.
  TrainStep(model::Generator g, model::Discriminator d, model::Generator g_ema, Adam& opt_g, Adam& opt_d,
            const TrainerOptions& options, std::optional<at::Generator> noise = std::nullopt);
  // `reals` already at `resolution` and on the device; blended for the fade-in here. `ema_decay`: the
  // EMA generator's decay for this step (the trainer's ramp-up); none: the steady-state decay.
  StepLosses run(const torch::Tensor& reals, int resolution, double alpha,
                 std::optional<double> ema_decay = std::nullopt);
  // The gradient penalty term alone (for tests): mean over the batch of (||grad_x D(x_hat)|| - 1)^2.
  torch::Tensor gradient_penalty(const torch::Tensor& reals, const torch::Tensor& fakes, int resolution, double alpha);

 private:
  model::Generator g_, g_ema_;
  model::Discriminator d_;
  Adam &opt_g_, &opt_d_;
  const TrainerOptions& options_;
  at::Generator noise_;
  // This rank's share of fresh noise of shape [world * b, dims...], on `like`'s device.
  torch::Tensor noise(bool normal, int64_t b, std::vector<int64_t> dims, const torch::Tensor& like);
  // This rank's share of a tensor drawn for the global batch [world * b, ...] (rank_slice).
  torch::Tensor share_of(const torch::Tensor& global, int64_t b) const;
  // `images` through this step's random augmentation (its parameters drawn from the noise generator).
  torch::Tensor augmented(const torch::Tensor& images);
};

}  // namespace deepzine::train
