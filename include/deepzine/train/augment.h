#pragma once
// Differentiable augmentation of D's inputs (Zhao et al. 2020, DiffAugment; Karras et al. 2020, ADA):
// the same random transforms on reals and fakes, in D's loss and in G's, so D cannot memorise a
// small corpus and G still learns the un-augmented pages. Only transforms that keep text text:
// integer translation with white padding, white cutout, brightness and contrast. Never flips or
// rotations, which would teach G mirrored letters.
#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace deepzine::train {

struct AugmentOptions {
  bool translation = false;  // shift by up to translation_ratio of the side, white where uncovered
  bool cutout = false;       // one white square of cutout_ratio of the side, anywhere on the page
  bool color = false;        // brightness + U(-0.25, 0.25), contrast x U(0.75, 1.25) about the page mean
  double translation_ratio = 0.125, cutout_ratio = 0.25;
  // Each transform is applied to each image with this probability (as ADA's p). Always-on transforms
  // add their own spread to every batch, which hides from D's minibatch-stddev feature that G's pages
  // are all alike: measured, at 1.0 G collapses to one page (docs/BENCHMARKS.md "Training recipe").
  double probability = 0.25;
  bool any() const { return translation || cutout || color; }
  std::string describe() const;  // "translation,cutout,color" or "none"
};

// Parses the config's `augment` value: "none", or a comma-separated list of translation, cutout,
// color. Throws std::invalid_argument naming the unknown word and the allowed ones.
AugmentOptions parse_augment(const std::string& text);

// Per-sample random parameters for a batch, drawn from `rng` on the CPU (so that a resumed run
// draws the same ones), laid out [B, 6]: tx, ty (pixels), cutout cx, cy (pixels), brightness, contrast;
// a transform not drawn for an image (probability) has its identity values (0 shift, cutout centre
// -size, i.e. off the page, brightness 0, contrast 1).
torch::Tensor draw_augment_params(const AugmentOptions& options, int64_t batch, int64_t size, at::Generator& rng);

// Applies the transforms of `params` ([B, 6], from draw_augment_params) to images in [-1, 1]
// ([B, C, S, S]); differentiable with respect to `images`.
torch::Tensor augment(const torch::Tensor& images, const torch::Tensor& params, const AugmentOptions& options);

}  // namespace deepzine::train
