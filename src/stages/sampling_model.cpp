#include "sampling_model.h"

#include <spdlog/spdlog.h>

#include "deepzine/model/checkpoint.h"
#include "deepzine/model/legacy_generator.h"
#include "deepzine/sample/legacy_tf_loader.h"
#include "deepzine/stages/options.h"
#include "deepzine/stages/device.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {
namespace fs = std::filesystem;

namespace {

// pretrained_model: True: a TensorFlow checkpoint of the original DeepZine (prefix, .index or folder).
SamplingModel load_legacy_sampling_model(const config::Config& cfg) {
  const fs::path where = cfg.inference_model_path ? fs::path(*cfg.inference_model_path)
                                                  : *cfg.inference_model_directory / std::to_string(cfg.output_size());
  const model::ArchitectureSpec arch = architecture_of(cfg);
  SamplingModel m;
  m.device = resolve_device(cfg);
  sample::LoadedLegacyGenerator g;
  try {
    g = sample::load_legacy_generator(where, arch, m.device);
  } catch (const std::exception& e) {
    throw util::StageError(std::string(e.what()) + "\n(pretrained_model: True reads checkpoints of the original "
                           "DeepZine; set it to False for models trained by deepzine)");
  }
  if (g.resolution != cfg.output_size()) {
    throw util::StageError("TensorFlow checkpoint " + where.string() + " generates " + std::to_string(g.resolution) +
                           "x" + std::to_string(g.resolution) + " pages but gan_output_size is " +
                           std::to_string(cfg.output_size()) + " (set gan_output_size: " +
                           std::to_string(g.resolution) + ")");
  }
  m.path = where;
  m.resolution = g.resolution;
  m.latent_size = arch.latent_size;
  m.channels = arch.channels;
  model::LegacyGenerator net = g.generator;
  m.generator = [net](const torch::Tensor& z) mutable { return net->forward(z); };
  spdlog::info("model: original DeepZine checkpoint {} ({}x{}, latent {})", where.string(), m.resolution,
               m.resolution, m.latent_size);
  return m;
}

}  // namespace

// A converted legacy generator in this project's checkpoint format.
// A checkpoint's latent size and resolution against the config; the error names both values.
static void check_matches_config(const config::Config& cfg, const fs::path& file, const model::CheckpointMeta& meta) {
  if (meta.arch.latent_size != cfg.latent_size) {
    throw util::StageError("model " + file.string() + " has latent size " + std::to_string(meta.arch.latent_size) +
                           " but the config's latent_size is " + std::to_string(cfg.latent_size) +
                           " (set latent_size: " + std::to_string(meta.arch.latent_size) + ")");
  }
  if (meta.resolution != cfg.output_size()) {
    throw util::StageError("model " + file.string() + " generates " + std::to_string(meta.resolution) + "x" +
                           std::to_string(meta.resolution) + " pages but gan_output_size is " +
                           std::to_string(cfg.output_size()) + " (set gan_output_size: " +
                           std::to_string(meta.resolution) + ")");
  }
}

static SamplingModel load_converted_legacy(const config::Config& cfg, const fs::path& file, const model::Checkpoint& c) {
  SamplingModel m;
  m.device = resolve_device(cfg);
  check_matches_config(cfg, file, c.meta);
  model::LegacyGenerator net(model::LegacyGeneratorOptions{c.meta.arch, c.meta.resolution});
  model::load_state(*net, c.G_ema, "checkpoint " + file.string() + " (converted TensorFlow generator)");
  net->to(m.device);
  net->eval();
  m.path = file;
  m.resolution = c.meta.resolution;
  m.latent_size = c.meta.arch.latent_size;
  m.channels = c.meta.arch.channels;
  m.generator = [net](const torch::Tensor& z) mutable { return net->forward(z); };
  spdlog::info("model: {} (original DeepZine generator converted from TensorFlow, {}x{}, latent {})", file.string(),
               m.resolution, m.resolution, m.latent_size);
  return m;
}

int convert_tf_model(const config::Config& cfg_in, const fs::path& out_dir) {
  config::Config cfg = cfg_in;
  cfg.pretrained_model = true;
  const fs::path where = cfg.inference_model_path ? fs::path(*cfg.inference_model_path)
                                                  : *cfg.inference_model_directory / std::to_string(cfg.output_size());
  sample::LoadedLegacyGenerator g;
  try {
    g = sample::load_legacy_generator(where, architecture_of(cfg), torch::kCPU);
  } catch (const std::exception& e) {
    throw util::StageError(std::string("--convert-tf: ") + e.what());
  }
  model::Checkpoint c;
  c.meta.arch = g.generator->options().arch;
  c.meta.arch.legacy_filters = true;
  c.meta.max_resolution = c.meta.resolution = g.resolution;
  c.meta.fingerprint = model::kLegacyGeneratorFingerprint;
  c.G_ema = model::state_of(*g.generator);
  const fs::path file = out_dir / std::to_string(g.resolution) / "checkpoint.pt";
  model::save_checkpoint(file, c);  // temp file + rename
  spdlog::info("--convert-tf: {} -> {} ({}x{}, latent {}); sample it with pretrained_model: False and "
               "inference_model_directory: {}", where.string(), file.string(), g.resolution, g.resolution,
               c.meta.arch.latent_size, out_dir.string());
  return util::kExitOk;
}

SamplingModel load_sampling_model(const config::Config& cfg) {
  if (cfg.pretrained_model) return load_legacy_sampling_model(cfg);
  std::vector<fs::path> tried;
  if (cfg.inference_model_path) {
    fs::path p = *cfg.inference_model_path;
    tried.push_back(fs::is_directory(p) ? p / "checkpoint.pt" : p);
  } else {
    tried.push_back(*cfg.inference_model_directory / std::to_string(cfg.output_size()) / "checkpoint.pt");
  }
  const fs::path file = tried.front();
  if (!fs::exists(file)) {
    std::string list;
    for (const auto& t : tried) list += "\n  " + t.string();
    throw util::StageError("no model found; tried:" + list +
                           "\n(train one with train: True, or point inference_model_path at a checkpoint)");
  }
  // Read once: the fingerprint says which generator the file holds.
  model::Checkpoint c;
  try {
    c = model::load_checkpoint(file);
  } catch (const std::exception& e) {
    throw util::StageError(e.what());
  }
  if (c.meta.fingerprint == model::kLegacyGeneratorFingerprint) return load_converted_legacy(cfg, file, c);
  SamplingModel m;
  m.device = resolve_device(cfg);
  check_matches_config(cfg, file, c.meta);
  model::LoadedGenerator g;
  try {
    g = model::generator_for_inference(c, file.string(), m.device);
  } catch (const std::exception& e) {
    throw util::StageError(e.what());
  }
  if (g.meta.alpha < 1.0) {
    spdlog::warn("model {} was saved during a fade-in (alpha {:.2f}); sampling it as it is", file.string(), g.meta.alpha);
  }
  m.path = file;
  m.resolution = g.meta.resolution;
  m.latent_size = g.meta.arch.latent_size;
  m.channels = g.meta.arch.channels;
  model::Generator net = g.generator;
  const int res = m.resolution;
  const double alpha = g.meta.alpha;
  m.generator = [net, res, alpha](const torch::Tensor& z) mutable { return net->forward(z, res, alpha); };
  spdlog::info("model: {} ({}x{}, latent {}, {} global steps)", file.string(), res, res, m.latent_size,
               g.meta.global_step);
  return m;
}

}  // namespace deepzine::stages
