#include "deepzine/sample/latents.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace deepzine::sample {
namespace {

// numpy.same(a, b) with its defaults (torch::allclose has the same rtol 1e-5, atol 1e-8).
bool same(const torch::Tensor& a, const torch::Tensor& b) { return torch::allclose(a, b); }

torch::Tensor linear(const torch::Tensor& a, const torch::Tensor& b, int frames) {
  std::vector<torch::Tensor> out;
  for (int i = 0; i < frames; ++i) {
    const double t = static_cast<double>(i) / frames;
    out.push_back(same(a, b) ? b.clone() : a + (b - a) * t);
  }
  return torch::stack(out);
}

}  // namespace

Walk parse_walk(const std::string& name) {
  if (name == "slerp") return Walk::kSlerp;
  if (name == "linear") return Walk::kLinear;
  if (name == "tozero") return Walk::kToZero;
  throw std::invalid_argument("interpolation_method '" + name + "' is not one of slerp, linear, tozero");
}

torch::Tensor interpolate(const torch::Tensor& a_in, const torch::Tensor& b_in, int frames, Walk walk) {
  TORCH_CHECK(frames >= 1, "interpolate: frames must be at least 1");
  torch::Tensor a = a_in.to(torch::kFloat64), b = b_in.to(torch::kFloat64);
  torch::Tensor out;
  if (walk == Walk::kLinear) {
    out = linear(a, b, frames);
  } else if (walk == Walk::kToZero) {
    const int first = frames / 2, second = frames - first;
    torch::Tensor origin = torch::zeros_like(a);
    std::vector<torch::Tensor> parts;
    if (first > 0) parts.push_back(linear(a, origin, first));
    parts.push_back(linear(origin, b, second));
    out = torch::cat(parts);
  } else {
    std::vector<torch::Tensor> v;
    const double cos = torch::dot(a / a.norm(), b / b.norm()).item<double>();
    const double omega = std::acos(std::max(-1.0, std::min(1.0, cos)));
    const double so = std::sin(omega);
    for (int i = 0; i < frames; ++i) {
      const double t = static_cast<double>(i) / frames;
      if (same(a, b) || so == 0.0) {
        v.push_back(same(a, b) ? b.clone() : a + (b - a) * t);  // opposite vectors: no unique arc
      } else {
        v.push_back(std::sin((1.0 - t) * omega) / so * a + std::sin(t * omega) / so * b);
      }
    }
    out = torch::stack(v);
  }
  return out.to(torch::kFloat32);
}

torch::Tensor interpolation_path(const torch::Tensor& keyframes, int frames, Walk walk) {
  TORCH_CHECK(keyframes.dim() == 2 && keyframes.size(0) >= 2, "interpolation needs at least two latents");
  std::vector<torch::Tensor> parts;
  for (int64_t i = 1; i < keyframes.size(0); ++i) parts.push_back(interpolate(keyframes[i - 1], keyframes[i], frames, walk));
  return torch::cat(parts);
}

}  // namespace deepzine::sample
