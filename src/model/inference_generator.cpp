// The EMA generator of a checkpoint, built and loaded for sampling.
#include <torch/torch.h>

#include "deepzine/model/checkpoint.h"
#include "deepzine/model/schedule.h"

namespace deepzine::model {
namespace fs = std::filesystem;
namespace {

int64_t count_values(const TensorMap& m) {
  int64_t n = 0;
  for (const auto& [name, t] : m) n += t.numel();
  return n;
}

// Every parameter of a generator built to max_resolution: the path to it and a toRGB per resolution.
int64_t full_generator_parameters(const ArchitectureSpec& arch, int max_resolution) {
  int64_t n = generator_parameter_count(arch, max_resolution, false);
  for (int r = 4; r < max_resolution; r *= 2) n += static_cast<int64_t>(arch.filters(r)) * arch.channels + arch.channels;
  return n;
}

}  // namespace

LoadedGenerator load_generator_for_inference(const fs::path& file_or_dir, torch::Device device) {
  fs::path file = file_or_dir;
  if (fs::is_directory(file)) file /= "checkpoint.pt";
  if (!fs::exists(file)) throw std::runtime_error("no model at " + file.string());
  return generator_for_inference(load_checkpoint(file), file.string(), device);
}

LoadedGenerator generator_for_inference(const Checkpoint& c, const std::string& source, torch::Device device) {
  LoadedGenerator out;
  out.meta = c.meta;
  // The generator the meta describes must be the one the file holds, checked before it is built: a
  // damaged meta must not make this allocate more than the file's own tensors.
  const int64_t expected = full_generator_parameters(c.meta.arch, c.meta.max_resolution), held = count_values(c.G_ema);
  if (expected != held) {
    throw std::runtime_error("checkpoint " + source + ": its meta describes a generator of " + std::to_string(expected) +
                             " parameters, but its G_ema holds " + std::to_string(held) + " values; it is damaged");
  }
  out.generator = Generator(c.meta.arch, c.meta.max_resolution);
  load_state(*out.generator, c.G_ema, "checkpoint " + source + " (G_ema)");
  out.generator->to(device);
  out.generator->eval();
  return out;
}

}  // namespace deepzine::model
