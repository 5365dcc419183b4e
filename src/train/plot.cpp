#include "deepzine/train/plot.h"

#include <algorithm>
#include <cmath>

#include "deepzine/imageio/png.h"

namespace deepzine::train {

void write_loss_curve(const std::filesystem::path& file, const std::vector<std::pair<int64_t, StepStats>>& curve) {
  if (curve.size() < 2) return;
  const int w = 640, h = 360, pad = 20;
  imageio::Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.assign(static_cast<size_t>(w) * h * 3, 255);
  double lo = 0, hi = 0;
  for (const auto& [step, s] : curve) {
    for (double v : {s.d_loss, s.g_loss}) {
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (hi - lo < 1e-9) hi = lo + 1;
  const double x0 = static_cast<double>(curve.front().first), x1 = static_cast<double>(curve.back().first);
  auto px = [&](double step) { return pad + (w - 2 * pad) * (step - x0) / std::max(1.0, x1 - x0); };
  auto py = [&](double v) { return h - pad - (h - 2 * pad) * (v - lo) / (hi - lo); };
  auto dot = [&](double x, double y, uint8_t r, uint8_t g, uint8_t b) {
    int ix = static_cast<int>(std::lround(x)), iy = static_cast<int>(std::lround(y));
    if (ix < 0 || iy < 0 || ix >= w || iy >= h) return;
    uint8_t* p = &img.pixels[(static_cast<size_t>(iy) * w + ix) * 3];
    p[0] = r, p[1] = g, p[2] = b;
  };
  auto line = [&](double xa, double ya, double xb, double yb, uint8_t r, uint8_t g, uint8_t b) {
    const int n = static_cast<int>(std::max(std::fabs(xb - xa), std::fabs(yb - ya))) + 1;
    for (int i = 0; i <= n; ++i) dot(xa + (xb - xa) * i / n, ya + (yb - ya) * i / n, r, g, b);
  };
  line(pad, py(0), w - pad, py(0), 160, 160, 160);
  for (size_t i = 1; i < curve.size(); ++i) {
    const double xa = px(curve[i - 1].first), xb = px(curve[i].first);
    line(xa, py(curve[i - 1].second.d_loss), xb, py(curve[i].second.d_loss), 220, 30, 30);
    line(xa, py(curve[i - 1].second.g_loss), xb, py(curve[i].second.g_loss), 30, 60, 220);
  }
  imageio::write_png(file, img);
}

}  // namespace deepzine::train
