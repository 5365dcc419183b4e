#include "deepzine/train/ema.h"

#include <algorithm>
#include <cmath>

namespace deepzine::train {

double ema_beta(const EmaOptions& options, int64_t batch, int64_t images_seen) {
  const double b = static_cast<double>(std::max<int64_t>(batch, 1));
  // A fixed per-step decay has the half-life b * ln(0.5) / ln(beta) images.
  double half_life = options.fixed_beta
                         ? (*options.fixed_beta <= 0 ? 0.0 : b * std::log(0.5) / std::log(*options.fixed_beta))
                         : options.half_life_kimg * 1000.0;
  if (options.rampup > 0) half_life = std::min(half_life, options.rampup * static_cast<double>(images_seen));
  if (half_life <= 0) return 0.0;
  return std::clamp(std::pow(0.5, b / half_life), 0.0, 0.999999999);
}

}  // namespace deepzine::train
