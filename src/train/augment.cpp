#include "deepzine/train/augment.h"

#include <torch/torch.h>

#include <sstream>
#include <stdexcept>

namespace deepzine::train {
namespace {

constexpr double kWhite = 1.0;  // pages are white: uncovered and cut-out pixels are paper

// Shifts each image by its integer (tx, ty); pixels shifted in from outside are white.
torch::Tensor translate(const torch::Tensor& x, const torch::Tensor& tx, const torch::Tensor& ty, int64_t pad) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  torch::Tensor padded = torch::constant_pad_nd(x, {pad, pad, pad, pad}, kWhite).permute({0, 2, 3, 1});
  auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  torch::Tensor rows = torch::arange(h, long_opts).view({1, h}) + pad - ty.view({b, 1});
  torch::Tensor cols = torch::arange(w, long_opts).view({1, w}) + pad - tx.view({b, 1});
  torch::Tensor batch = torch::arange(b, long_opts).view({b, 1, 1});
  using torch::indexing::TensorIndex;
  torch::Tensor out = padded.index({TensorIndex(batch), TensorIndex(rows.view({b, h, 1})), TensorIndex(cols.view({b, 1, w}))});
  return out.permute({0, 3, 1, 2});  // [B, H, W, C] -> [B, C, H, W]
}

// Whites out a square of side `side` centred at (cx, cy) in each image (clipped at the borders).
torch::Tensor cutout(const torch::Tensor& x, const torch::Tensor& cx, const torch::Tensor& cy, int64_t side) {
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  auto opts = x.options();
  torch::Tensor ys = torch::arange(h, opts).view({1, h, 1}), xs = torch::arange(w, opts).view({1, 1, w});
  // Rows and columns [c - side/2, c - side/2 + side): exactly side x side pixels inside the page.
  torch::Tensor top = cy.view({b, 1, 1}).to(opts.dtype()) - static_cast<double>(side / 2);
  torch::Tensor left = cx.view({b, 1, 1}).to(opts.dtype()) - static_cast<double>(side / 2);
  torch::Tensor inside_y = (ys >= top) & (ys < top + static_cast<double>(side));
  torch::Tensor inside_x = (xs >= left) & (xs < left + static_cast<double>(side));
  torch::Tensor hole = (inside_y & inside_x).unsqueeze(1);  // [B, 1, H, W]
  return torch::where(hole, torch::full({}, kWhite, opts), x);
}

}  // namespace

std::string AugmentOptions::describe() const {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(translation, "translation");
  add(cutout, "cutout");
  add(color, "color");
  return out.empty() ? "none" : out;
}

AugmentOptions parse_augment(const std::string& text) {
  AugmentOptions o;
  if (text == "none" || text == "None" || text.empty()) return o;
  std::stringstream list(text);
  std::string word;
  while (std::getline(list, word, ',')) {
    word.erase(0, word.find_first_not_of(" \t"));
    word.erase(word.find_last_not_of(" \t") + 1);
    if (word == "translation") o.translation = true;
    else if (word == "cutout") o.cutout = true;
    else if (word == "color" || word == "colour") o.color = true;
    else {
      throw std::invalid_argument("unknown augmentation '" + word +
                                  "' (allowed: none, or a comma-separated list of translation, cutout, color)");
    }
  }
  return o;
}

torch::Tensor draw_augment_params(const AugmentOptions& o, int64_t batch, int64_t size, at::Generator& rng) {
  torch::Tensor u = at::rand({batch, 6}, rng, torch::TensorOptions().dtype(torch::kDouble));
  // Which transforms apply to which image: translation, cutout, color.
  torch::Tensor on = at::rand({batch, 3}, rng, torch::TensorOptions().dtype(torch::kDouble)) < o.probability;
  const int64_t shift = static_cast<int64_t>(size * o.translation_ratio + 0.5);
  torch::Tensor p = torch::zeros({batch, 6}, torch::kDouble);
  if (o.translation) {
    // Uniform integers in [-shift, shift].
    torch::Tensor moved = on.select(1, 0).to(torch::kDouble);
    p.select(1, 0).copy_(((u.select(1, 0) * (2 * shift + 1)).floor() - shift) * moved);
    p.select(1, 1).copy_(((u.select(1, 1) * (2 * shift + 1)).floor() - shift) * moved);
  }
  // A cutout not drawn sits wholly outside the page.
  const double outside = -2.0 * size;
  torch::Tensor none = torch::zeros({batch}, torch::kBool);
  torch::Tensor cut = o.cutout ? on.select(1, 1) : none, coloured = o.color ? on.select(1, 2) : none;
  p.select(1, 2).copy_(torch::where(cut, (u.select(1, 2) * size).floor(),
                                    torch::full({batch}, outside, torch::kDouble)));
  p.select(1, 3).copy_(torch::where(cut, (u.select(1, 3) * size).floor(),
                                    torch::full({batch}, outside, torch::kDouble)));
  p.select(1, 4).copy_(torch::where(coloured, (u.select(1, 4) - 0.5) * 0.5, torch::zeros({batch}, torch::kDouble)));
  p.select(1, 5).copy_(torch::where(coloured, u.select(1, 5) * 0.5 + 0.75, torch::ones({batch}, torch::kDouble)));
  return p;
}

torch::Tensor augment(const torch::Tensor& images, const torch::Tensor& params, const AugmentOptions& o) {
  if (!o.any()) return images;
  TORCH_CHECK(images.dim() == 4 && params.dim() == 2 && params.size(0) == images.size(0) && params.size(1) == 6,
              "augment: images [B, C, S, S] and params [B, 6] expected, got ", images.sizes(), " and ",
              params.sizes());
  torch::Tensor p = params.to(images.device());
  const int64_t b = images.size(0), size = images.size(2);
  torch::Tensor x = images;
  if (o.translation) {
    const int64_t pad = static_cast<int64_t>(size * o.translation_ratio + 0.5);
    if (pad > 0) x = translate(x, p.select(1, 0).to(torch::kLong), p.select(1, 1).to(torch::kLong), pad);
  }
  if (o.cutout) {
    const int64_t side = std::max<int64_t>(1, static_cast<int64_t>(size * o.cutout_ratio + 0.5));
    x = cutout(x, p.select(1, 2), p.select(1, 3), side);
  }
  if (o.color) {  // last, so that padding and holes get the same brightness as the page
    auto real = images.scalar_type();
    torch::Tensor brightness = p.select(1, 4).to(real).view({b, 1, 1, 1});
    torch::Tensor contrast = p.select(1, 5).to(real).view({b, 1, 1, 1});
    torch::Tensor mean = x.mean({1, 2, 3}, /*keepdim=*/true);
    x = (x - mean) * contrast + mean + brightness;
  }
  return x;
}

}  // namespace deepzine::train
