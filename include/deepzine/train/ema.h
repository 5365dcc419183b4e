#pragma once
// The moving average of G's weights that makes every sample grid, SWD figure and inference image.
// As StyleGAN2-ADA (training_loop.py: ema_kimg, ema_rampup): the average has a half-life counted in
// images, and during a ramp-up the half-life never exceeds `rampup` times the images seen, so a short
// run (or the first steps after the network grew) does not sample a mostly-random average.
#include <cstdint>
#include <optional>

namespace deepzine::train {

struct EmaOptions {
  double half_life_kimg = 10.0;  // thousands of images over which a weight's old value halves
  double rampup = 0.05;          // half-life <= rampup * images seen at this resolution; 0: no ramp-up
  // A fixed decay per step (the config's ema_beta), used instead of the half-life when set; the
  // ramp-up still applies.
  std::optional<double> fixed_beta;
};

// Decay of the step that has just trained on `batch` images, `images_seen` images into the current
// resolution (including this batch). Always in [0, 1).
double ema_beta(const EmaOptions& options, int64_t batch, int64_t images_seen);

}  // namespace deepzine::train
