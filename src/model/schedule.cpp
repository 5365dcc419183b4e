#include "deepzine/model/schedule.h"

#include <stdexcept>

namespace deepzine::model {

bool is_power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

int log2_int(int64_t v) {
  int d = 0;
  while (v > 1) {
    v >>= 1;
    ++d;
  }
  return d;
}

int ArchitectureSpec::filters_at_depth(int depth) const {
  // The original's get_filter_num (model.py), indexing quirks included, so that configs and the
  // shipped legacy checkpoints keep their filter counts.
  if (depth < filter_reduction_depth - 1) return max_filter;
  const int shift = depth - filter_reduction_depth + 2;  // >= 1 here
  if (legacy_filters && (1 << shift) > 2) return 16;
  return max_filter >> shift;
}

int ArchitectureSpec::filters(int resolution) const {
  const int depth = std::max(1, log2_int(resolution) - 2);
  return filters_at_depth(depth);
}

std::string TrainingStage::name() const {
  return std::to_string(resolution) + (transition ? "_Transition" : "");
}

int ScheduleSpec::batch_size_at(int resolution) const {
  const int depth = log2_int(resolution) - 1;
  return depth >= batch_reduction_depth ? reduced_batch_size : batch_size;
}

std::vector<TrainingStage> ScheduleSpec::stages() const {
  std::vector<TrainingStage> out;
  if (!is_power_of_two(starting_size) || !is_power_of_two(output_size) || starting_size < 4 ||
      starting_size > output_size) {
    throw std::invalid_argument("schedule: sizes must be powers of two with 4 <= start <= output");
  }
  auto add = [&](int res, bool transition) {
    out.push_back({res, transition, batch_size_at(res), iterations_per_stage});
  };
  if (starting_size == 4) {
    add(4, false);
  } else {
    add(starting_size, true);
    add(starting_size, false);
  }
  for (int res = starting_size * 2; res <= output_size; res *= 2) {
    add(res, true);
    add(res, false);
  }
  return out;
}

// Parameter counts of the PGGAN defined in include/deepzine/model/pggan.h:
// G: dense latent -> 4x4xf(4) (+ per-channel bias), 3x3 conv; per doubling two 3x3 convs; toRGB 1x1.
// D: fromRGB 1x1; per halving 3x3 conv f(r)->f(r), 3x3 conv f(r)->f(r/2); at 4x4: minibatch stddev
// (+1 map), 3x3 conv, dense 16 f(4) -> f(4), dense f(4) -> 1. Every layer has a bias.
int64_t generator_parameter_count(const ArchitectureSpec& a, int resolution, bool transition) {
  const int64_t f4 = a.filters(4), c = a.channels;
  int64_t n = static_cast<int64_t>(a.latent_size) * 16 * f4 + f4;  // dense to 4x4
  n += 9 * f4 * f4 + f4;                                              // 3x3 conv at 4x4
  for (int r = 8; r <= resolution; r *= 2) {
    const int64_t fin = a.filters(r / 2), f = a.filters(r);
    n += 9 * fin * f + f + 9 * f * f + f;
  }
  n += a.filters(resolution) * c + c;  // toRGB
  if (transition && resolution > 4) n += a.filters(resolution / 2) * c + c;
  return n;
}

int64_t discriminator_parameter_count(const ArchitectureSpec& a, int resolution, bool transition) {
  const int64_t f4 = a.filters(4), c = a.channels;
  int64_t n = c * a.filters(resolution) + a.filters(resolution);  // fromRGB
  if (transition && resolution > 4) n += c * a.filters(resolution / 2) + a.filters(resolution / 2);
  for (int r = resolution; r >= 8; r /= 2) {
    const int64_t f = a.filters(r), fout = a.filters(r / 2);
    n += 9 * f * f + f + 9 * f * fout + fout;
  }
  n += 9 * (f4 + 1) * f4 + f4;  // conv after minibatch stddev
  n += 16 * f4 * f4 + f4;        // dense
  n += f4 + 1;                   // dense to the score
  return n;
}

}  // namespace deepzine::model
