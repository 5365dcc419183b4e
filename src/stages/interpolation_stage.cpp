// interpolation: walk the latent space between random (or given) latents; frames and a movie.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deepzine/imageio/png.h"
#include "deepzine/report/report.h"
#include "deepzine/sample/generate.h"
#include "deepzine/sample/latents.h"
#include "deepzine/sample/npy.h"
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"
#include "deepzine/video/movie.h"
#include "sampling_inputs.h"
#include "sampling_model.h"

namespace deepzine::stages {
namespace fs = std::filesystem;

int run_interpolation(const config::Config& cfg) {
  SamplingModel m = load_sampling_model(cfg);
  const fs::path out = prepared_output_folder(cfg);
  // A different stream than inference's, so the two stages do not show the same pages.
  torch::Tensor keys = latents_for(cfg.interpolation_latents, cfg.interpolation_vector_num, m.latent_size,
                                   seed_of(cfg) + 1);
  if (keys.size(0) < 2) throw util::StageError("interpolation needs at least two latents");
  torch::Tensor path = sample::interpolation_path(keys, cfg.interpolation_frames, sample::parse_walk(cfg.interpolation_method));
  std::unique_ptr<video::MovieWriter> movie;
  sample::generate(
      m.generator, path, cfg.inference_batch_size, m.device,
      [&](int64_t i, const uint8_t* px, int size, int channels) {
        imageio::write_png(out / fmt::format("interpolation_{:05d}.png", i), px, size, size, channels);
        if (!movie) movie = std::make_unique<video::MovieWriter>(out / "interpolation", size, size, cfg.movie_framerate);
        movie->add_frame(px, channels);
      },
      "interpolation");
  sample::write_npy(out / "interpolation_latents.npy", keys);
  sample::write_npy(out / "interpolation_frame_latents.npy", path);
  const fs::path movie_path = movie->close();
  spdlog::info("interpolation: {} frames ({} method) and {} ({}) in {}", path.size(0), cfg.interpolation_method,
               movie_path.filename().string(), movie->codec(), out.string());
  report::write_output_index(out, describe(m));
  return util::kExitOk;
}

}  // namespace deepzine::stages
