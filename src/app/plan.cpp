#include "plan.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "deepzine/model/schedule.h"
#include "deepzine/stages/options.h"

namespace deepzine::app {
namespace {

std::string show(const std::optional<config::Path>& p) { return p ? p->string() : "None"; }

}  // namespace

void print_plan(std::ostream& out, const config::Config& c, const std::vector<stages::Stage>& only,
                int nproc) {
  auto on = [&](stages::Stage s) { return stages::stage_selected(c, s, only); };
  fmt::print(out, "deepzine {} — plan for {} (dry run: nothing is written)\n\n", DEEPZINE_VERSION,
             c.source_file.string());
  fmt::print(out, "stages:\n");
  for (stages::Stage s : {stages::Stage::kLoadData, stages::Stage::kTrain, stages::Stage::kInference,
                           stages::Stage::kInterpolation}) {
    fmt::print(out, "  {:<14} {}\n", stages::stage_name(s),
               on(s) ? "run" : (stages::stage_enabled(c, s) ? "skipped (--only)" : "off"));
  }
  fmt::print(out, "\npaths:\n");
  fmt::print(out, "  pdf_directory              {}\n", show(c.pdf_directory));
  fmt::print(out, "  image_directory            {}\n", show(c.image_directory));
  fmt::print(out, "  data_hdf5                  {}\n", show(c.data_hdf5));
  fmt::print(out, "  log_dir                    {}\n", c.log_dir.string());
  fmt::print(out, "  samples_dir                {}\n", c.samples_dir.string());
  fmt::print(out, "  inference_model_directory  {}\n", show(c.inference_model_directory));
  fmt::print(out, "  inference_model_path       {}\n", show(c.inference_model_path));
  fmt::print(out, "  inference_output_directory {}\n", show(c.inference_output_directory));
  fmt::print(out, "  inference_input_latent     {}\n", show(c.inference_input_latent));
  fmt::print(out, "  interpolation_latents      {}\n", show(c.interpolation_latents));

  if (on(stages::Stage::kLoadData)) {
    fmt::print(out, "\nload_data: {} from collection '{}' at {} ({} items at most, {} workers, files {}), "
               "pages {}x{} ({} channel(s), page_fit {}), overwrite {}\n",
               c.download_pdf ? "download" : "no download", c.internetarchive_collection,
               c.internetarchive_base_url, c.pdf_num ? std::to_string(*c.pdf_num) : "all", c.download_workers,
               c.download_glob, c.data_output_size, c.data_output_size,
               c.channels ? std::to_string(*c.channels) : "3, grey pages stored once", c.page_fit,
               c.overwrite ? "True" : "False");
  }

  // The same derivations the train stage uses, so the plan is what will run.
  const model::ArchitectureSpec arch = stages::architecture_of(c);
  const model::ScheduleSpec sched = stages::schedule_of(c);
  fmt::print(out, "\nmodel: latent {}, channels {}, max_filter {}{}\n", arch.latent_size,
             c.channels ? std::to_string(*c.channels)
                        : "from the pages (None: 1 if every page of data_hdf5 is grey, else 3; counts below for 3)",
             arch.max_filter, c.pretrained_model ? " (legacy architecture of the original DeepZine)" : "");
  if (c.train) {
    fmt::print(out, "training: learning rate {}{}, augmentation of D's inputs: {} (probability {}), EMA half-life {} "
               "kimg (ramp-up {})\n",
               c.learning_rate, stages::is_original_scale_learning_rate(c.learning_rate) ? " (the original's value; slow on equalized layers, default 0.003)" : "",
               c.augment, c.augment_probability, c.ema_beta ? fmt::format("from ema_beta {}", *c.ema_beta) : fmt::format("{}", c.ema_kimg),
               c.ema_rampup);
  }
  fmt::print(out, "resolution schedule ({} process(es); batch is per process, effective batch = batch x {}):\n",
             nproc, nproc);
  if (nproc > 1) {
    fmt::print(out, "  learning rate {} unchanged with the process count: Adam's step does not scale with the\n"
                    "  gradient's size, the averaged gradient only has less noise (docs/distributed.md)\n",
               c.learning_rate);
  }
  fmt::print(out, "  {:<16} {:>8} {:>7} {:>9} {:>11} {:>12} {:>12}\n", "stage", "filters", "batch", "effective",
             "iterations", "G params", "D params");
  int64_t total_steps = 0;
  for (const auto& st : sched.stages()) {
    total_steps += st.iterations;
    fmt::print(out, "  {:<16} {:>8} {:>7} {:>9} {:>11} {:>12} {:>12}\n", st.name(), arch.filters(st.resolution),
               st.batch_size, st.batch_size * nproc, st.iterations, model::generator_parameter_count(arch, st.resolution, st.transition),
               model::discriminator_parameter_count(arch, st.resolution, st.transition));
  }
  fmt::print(out, "  total steps {}; checkpoints every {} steps in {}/<resolution>/\n", total_steps,
             c.model_save_interval_steps, c.log_dir.string());
  if (on(stages::Stage::kInference)) {
    fmt::print(out, "\ninference: {} image(s) as {}, batch {}\n", c.inference_output_num,
               c.inference_output_format, c.inference_batch_size);
  }
  if (on(stages::Stage::kInterpolation)) {
    fmt::print(out, "interpolation: {} latents, {} frames between each ({} frames), method {}, movie at {} fps\n",
               c.interpolation_vector_num, c.interpolation_frames,
               static_cast<int64_t>(c.interpolation_vector_num - 1) * c.interpolation_frames,
               c.interpolation_method, c.movie_framerate);
  }
}

void print_keys(std::ostream& out) {
  for (const auto& k : config::all_keys()) {
    fmt::print(out, "{} ({}, default {}){}\n    {}\n", k.name, k.type, k.default_yaml,
               k.added_by_deepzine_cpp ? " [new in deepzine-cpp]" : "", k.doc);
  }
}

}  // namespace deepzine::app
