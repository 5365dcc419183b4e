#pragma once
// Progressive training: 4x4 stable, then a fade-in and a stable stage per doubling (model::ScheduleSpec),
// WGAN-GP with drift, EMA generator, checkpoints every N steps and at every stage end, automatic resume
// from the newest checkpoint in log_dir, sample grids, metrics CSV, loss curves and SWD per stage.
// The step itself (and TrainerOptions) is in step.h.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "deepzine/train/step.h"

namespace deepzine::train {

// Which batch of reals the trainer wants: the `step`-th of stage `stage` (steps past the stage's
// iterations are the stage-end SWD's). Knowing the position lets a resumed run read the same batches
// as an uninterrupted one.
struct BatchRequest {
  int resolution = 4;
  int batch_size = 16;
  int stage = 0;
  int64_t step = 0;
};
// Real images: float [B, C, R, R] in [-1, 1] (CPU is fine; moved to the training device).
using BatchFn = std::function<torch::Tensor(const BatchRequest& request)>;

class Trainer {
 public:
  Trainer(TrainerOptions options, BatchFn reals);
  ~Trainer();
  // Runs (or resumes) the whole schedule. Throws util::Interrupted after saving if interrupted.
  void run();
  model::Generator generator_ema() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Fingerprint of what must match for a checkpoint to be resumed.
std::string fingerprint(const model::ArchitectureSpec& arch, int max_resolution);

// Images in [-1, 1] [N, C, H, W] -> uint8 HWC tiles scaled up (nearest) to at least `min_side` pixels.
std::vector<uint8_t> to_uint8_hwc(const torch::Tensor& images, int64_t scale = 1);

}  // namespace deepzine::train
