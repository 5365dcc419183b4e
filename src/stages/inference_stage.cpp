// inference: sample pages from a trained model.
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deepzine/imageio/png.h"
#include "deepzine/report/report.h"
#include "deepzine/sample/generate.h"
#include "deepzine/sample/npy.h"
#include "deepzine/stages/stages.h"
#include "deepzine/util/atomic_file.h"
#include "deepzine/util/log.h"
#include "deepzine/util/error.h"
#include "deepzine/video/movie.h"
#include "sampling_inputs.h"
#include "sampling_model.h"

namespace deepzine::stages {
namespace fs = std::filesystem;

torch::Tensor latents_for(const std::optional<fs::path>& file, int64_t count, int latent_size, uint64_t seed) {
  if (!file) return sample::random_latents(count, latent_size, seed);
  torch::Tensor z;
  try {
    z = sample::read_npy(*file);
  } catch (const std::exception& e) {
    throw util::StageError(e.what());
  }
  if (z.size(1) != latent_size) {
    throw util::StageError(fmt::format("latent file {} has vectors of size {}, but the model's latent size is {}",
                                       file->string(), z.size(1), latent_size));
  }
  return z;
}

fs::path prepared_output_folder(const config::Config& cfg) {
  const fs::path out = *cfg.inference_output_directory;
  fs::create_directories(out);
  util::log_removed_temporaries(util::remove_stale_temporaries_in(out));
  return out;
}

uint64_t seed_of(const config::Config& cfg) {
  return cfg.random_seed ? static_cast<uint64_t>(*cfg.random_seed) : std::random_device{}();
}

int run_inference(const config::Config& cfg) {
  SamplingModel m = load_sampling_model(cfg);
  const fs::path out = prepared_output_folder(cfg);
  torch::Tensor z = latents_for(cfg.inference_input_latent, cfg.inference_output_num, m.latent_size, seed_of(cfg));
  const std::string ext = cfg.inference_output_format == "png" ? "png" : "jpg";
  const int sheet_count = static_cast<int>(std::min<int64_t>(64, z.size(0)));
  std::vector<uint8_t> sheet;
  sample::generate(
      m.generator, z, cfg.inference_batch_size, m.device,
      [&](int64_t i, const uint8_t* px, int size, int channels) {
        const fs::path file = out / fmt::format("inference_{:05d}.{}", i, ext);
        if (ext == "png") {
          imageio::write_png(file, px, size, size, channels);
        } else {
          video::write_jpeg(file, px, size, size, channels);
        }
        if (i < sheet_count) sheet.insert(sheet.end(), px, px + static_cast<size_t>(size) * size * channels);
      },
      "inference");
  sample::write_npy(out / "inference_latents.npy", z);
  if (sheet_count > 0) {
    imageio::write_png(out / "inference_contact_sheet.png",
                       imageio::tile_grid(sheet.data(), sheet_count, m.resolution, m.resolution, m.channels, 8));
  }
  spdlog::info("inference: {} images, their latents (inference_latents.npy) and a contact sheet in {}", z.size(0),
               out.string());
  report::write_output_index(out, describe(m));
  return util::kExitOk;
}

}  // namespace deepzine::stages
