// deepzine CONFIG --report: log_dir/report.html rebuilt from what a training run left there.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deepzine/stages/options.h"
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"
#include "report_inputs.h"

namespace deepzine::stages {
namespace fs = std::filesystem;

report::TrainingReportInputs training_report_inputs(const config::Config& cfg, int channels, int world_size) {
  report::TrainingReportInputs in;
  in.log_dir = cfg.log_dir;
  in.samples_dir = cfg.samples_dir;
  in.config_file = cfg.source_file;
  for (const model::TrainingStage& s : schedule_of(cfg).stages()) {
    in.stages.push_back({s.name(), s.resolution, s.transition, s.iterations, s.batch_size * std::max(world_size, 1)});
  }
  auto path = [](const std::optional<fs::path>& p) { return p ? p->string() : std::string("None"); };
  in.settings = {
      {"data_hdf5", path(cfg.data_hdf5)},
      {"gan_output_size", std::to_string(cfg.output_size())},
      {"channels", channels > 0 ? std::to_string(channels) : (cfg.channels ? std::to_string(*cfg.channels) : "None (from the pages)")},
      {"latent_size", std::to_string(cfg.latent_size)},
      {"max_filter", std::to_string(cfg.max_filter)},
      {"batch_size", fmt::format("{} (x {} process(es))", cfg.batch_size, std::max(world_size, 1))},
      {"learning_rate", fmt::format("{}", cfg.learning_rate)},
      {"iterations_per_stage", std::to_string(cfg.iterations_per_stage)},
      {"augment", fmt::format("{} (probability {})", cfg.augment, cfg.augment_probability)},
      {"ema", cfg.ema_beta ? fmt::format("fixed beta {}", *cfg.ema_beta)
                           : fmt::format("half-life {} kimg, ramp-up {}", cfg.ema_kimg, cfg.ema_rampup)},
      {"device", cfg.device},
      {"mixed_precision", cfg.mixed_precision ? "True" : "False"},
      {"random_seed", cfg.random_seed ? std::to_string(*cfg.random_seed) : "None"},
  };
  return in;
}

int write_report(const config::Config& cfg) {
  std::error_code ec;
  if (!fs::is_directory(cfg.log_dir, ec)) {
    throw util::StageError("--report: log_dir " + cfg.log_dir.string() +
                           " is not a folder; it is where a training run with this config logs (train: True)");
  }
  fs::path report;
  try {
    report = report::write_training_report(training_report_inputs(cfg, 0, 1));
  } catch (const std::exception& e) {
    throw util::StageError(std::string("--report: ") + e.what());
  }
  spdlog::info("report: {}", report.string());
  return util::kExitOk;
}

}  // namespace deepzine::stages
