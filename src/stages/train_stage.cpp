// train: progressive training of the PGGAN on data_hdf5.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>

#include <spdlog/spdlog.h>

#include "deepzine/data/page_dataset.h"
#include "deepzine/report/report.h"
#include "deepzine/stages/device.h"
#include "deepzine/stages/stages.h"
#include "deepzine/train/trainer.h"
#include "deepzine/util/error.h"
#include "deepzine/util/interrupt.h"
#include "deepzine/stages/options.h"
#include "parallel.h"
#include "report_inputs.h"

namespace deepzine::stages {
namespace {

// channels: None lets the pages decide: a grey model when every page is grey (most typeset and
// scanned books), which spends no capacity on colour and cannot produce colour casts.
int model_channels(const config::Config& cfg, const std::filesystem::path& data_file) {
  if (cfg.channels) return *cfg.channels;
  data::PageColours colours;
  try {
    colours = data::page_colours(data_file);
  } catch (const std::exception& e) {
    throw util::StageError(std::string("train: ") + e.what());
  }
  const int channels = colours.suggested_channels();
  spdlog::info("train: channels {} ({}): {} grey and {} colour page(s) in {}; set channels: 1 or 3 to choose",
               channels, channels == 1 ? "grey model" : "RGB model", colours.grey, colours.colour, data_file.string());
  return channels;
}

// The original DeepZine's 1e-4 was a step for weights carrying the He scale; every layer here has the
// equalized learning rate, where the same number is a ~10x smaller step (docs/training.md).
void warn_about_learning_rate(double lr) {
  if (!is_original_scale_learning_rate(lr)) return;
  spdlog::warn("train: learning_rate {} is used as given. It is the original DeepZine's value for weights without "
               "equalized learning rate; this project's layers are equalized (Karras et al.), where it is a 10-25x "
               "smaller step and trains slower (docs/BENCHMARKS.md, 'Training recipe'). The default is 0.003: "
               "--set learning_rate=0.003",
               lr);
}

// log_dir/report.html, rebuilt at every log point and stage end, except that a log point closer to
// the last rebuild than 50 times that rebuild's duration is skipped: the report costs at most ~2% of
// the training time, however fast the steps are (a GPU logs several times a second). A report that
// cannot be written is a warning: training goes on (the checkpoints say whether the folder itself has
// a problem).
std::function<void(bool)> report_writer(const config::Config& cfg, int channels, int world_size) {
  struct State {
    report::TrainingReportInputs inputs;
    std::chrono::steady_clock::time_point last_end{};
    std::chrono::steady_clock::duration last_cost{};
  };
  auto state = std::make_shared<State>();
  state->inputs = training_report_inputs(cfg, channels, world_size);
  return [state](bool stage_end) {
    const auto start = std::chrono::steady_clock::now();
    if (!stage_end && start - state->last_end < 50 * state->last_cost) return;
    try {
      report::write_training_report(state->inputs);
    } catch (const std::exception& e) {
      spdlog::warn("train: the report was not updated: {}", e.what());
    }
    state->last_end = std::chrono::steady_clock::now();
    state->last_cost = state->last_end - start;
  };
}

}  // namespace

int run_train(const config::Config& cfg) {
  const auto data_file = *cfg.data_hdf5;
  if (!std::filesystem::exists(data_file)) {
    throw util::StageError("train: data_hdf5 " + data_file.string() +
                           " does not exist (run load_data first: set load_data: True)");
  }
  std::vector<int> sizes;
  try {
    sizes = data::available_resolutions(data_file);
  } catch (const std::exception& e) {
    throw util::StageError(std::string("train: ") + e.what());
  }
  const int out = cfg.output_size();
  if (std::find(sizes.begin(), sizes.end(), out) == sizes.end()) {
    throw util::StageError("train: " + data_file.string() + " has no " + std::to_string(out) + "x" +
                           std::to_string(out) + " pages (largest: " + (sizes.empty() ? "none" : std::to_string(sizes.back())) +
                           "); lower gan_output_size or rebuild with data_output_size >= " + std::to_string(out));
  }

  train::TrainerOptions o;
  o.arch = architecture_of(cfg);
  o.arch.channels = model_channels(cfg, data_file);
  o.schedule = schedule_of(cfg);
  o.adam.lr = cfg.learning_rate;
  warn_about_learning_rate(cfg.learning_rate);
  o.discriminator_updates = cfg.discriminator_updates;
  o.generator_updates = cfg.generator_updates;
  o.ema.half_life_kimg = cfg.ema_kimg;
  o.ema.rampup = cfg.ema_rampup;
  o.ema.fixed_beta = cfg.ema_beta;
  o.augment = train::parse_augment(cfg.augment);
  o.augment.probability = cfg.augment_probability;
  spdlog::info("train: augmentation of D's inputs: {} (each with probability {}); EMA half-life {} kimg, ramp-up {}",
               o.augment.describe(), o.augment.probability, cfg.ema_kimg, cfg.ema_rampup);
  o.save_interval = cfg.model_save_interval_steps;
  o.sample_interval = cfg.model_sample_interval_steps;
  o.log_interval = cfg.model_loss_output_interval_steps;
  o.log_dir = cfg.log_dir;
  o.samples_dir = cfg.samples_dir;
  o.swd_images = cfg.swd_image_num;
  const RankInfo ranks = rank_info_from_environment();
  o.device = resolve_device(cfg, ranks.local_rank);
  o.mixed_precision = cfg.mixed_precision && o.device.is_cuda();
  o.channels_last = o.device.is_cuda();
  o.seed = cfg.random_seed ? static_cast<uint64_t>(*cfg.random_seed) : std::random_device{}();

  o.on_progress = report_writer(cfg, o.arch.channels, ranks.world_size);
  std::unique_ptr<ParallelTraining> parallel;
  if (ranks.world_size > 1) parallel = std::make_unique<ParallelTraining>(cfg, o.device, o);

  // One streaming reader per stage, shuffled by (seed, stage) and opened at the batch asked for, so a
  // resumed run reads what the interrupted one would have; the previous stage's is dropped.
  std::unique_ptr<data::PageDataset> reader;
  int reader_stage = -1;
  int64_t reader_next = 0;
  train::BatchFn reals = [&](const train::BatchRequest& want) {
    if (!reader || reader_stage != want.stage || reader_next != want.step) {
      reader.reset();
      data::PageDatasetOptions d;
      d.file = data_file;
      d.resolution = want.resolution;
      d.batch_size = want.batch_size;
      d.seed = o.seed + 1000003ull * static_cast<uint64_t>(want.stage + 1);
      d.start_batch = want.step;
      d.pin_memory = o.device.is_cuda();
      d.rank = ranks.rank;  // same permutation on every rank (same seed), disjoint shares
      d.world_size = ranks.world_size;
      d.channels = o.arch.channels;  // colour pages turn grey for a grey model, grey ones repeat for RGB
      reader = std::make_unique<data::PageDataset>(d);
      reader_stage = want.stage;
      reader_next = want.step;
    }
    ++reader_next;
    return reader->next_batch();
  };
  try {
    train::Trainer trainer(o, reals);
    trainer.run();
  } catch (const util::Interrupted&) {
    throw;
  } catch (const util::StageError&) {
    throw;
  } catch (const std::exception& e) {
    throw util::StageError(std::string("train: ") + e.what());
  }
  return util::kExitOk;
}

}  // namespace deepzine::stages
