// train: progressive training of the PGGAN on data_hdf5.
#include <map>
#include <memory>
#include <random>

#include <spdlog/spdlog.h>

#include "deepzine/data/page_dataset.h"
#include "deepzine/stages/device.h"
#include "deepzine/stages/stages.h"
#include "deepzine/train/trainer.h"
#include "deepzine/util/error.h"
#include "deepzine/util/interrupt.h"
#include "deepzine/stages/options.h"
#include "parallel.h"

namespace deepzine::stages {

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
  o.schedule = schedule_of(cfg);
  o.adam.lr = cfg.learning_rate;
  o.discriminator_updates = cfg.discriminator_updates;
  o.generator_updates = cfg.generator_updates;
  o.ema_beta = cfg.ema_beta;
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

  std::unique_ptr<ParallelTraining> parallel;
  if (ranks.world_size > 1) parallel = std::make_unique<ParallelTraining>(cfg, o.device, o);

  // One streaming reader per (resolution, batch); the previous stage's is dropped when a new one opens.
  std::unique_ptr<data::PageDataset> reader;
  int reader_res = 0, reader_batch = 0;
  uint64_t reader_seed = o.seed;
  train::BatchFn reals = [&](int res, int batch) {
    if (!reader || reader_res != res || reader_batch != batch) {
      reader.reset();
      data::PageDatasetOptions d;
      d.file = data_file;
      d.resolution = res;
      d.batch_size = batch;
      d.seed = reader_seed++;
      d.pin_memory = o.device.is_cuda();
      d.rank = ranks.rank;  // same permutation on every rank (same seed), disjoint shares
      d.world_size = ranks.world_size;
      reader = std::make_unique<data::PageDataset>(d);
      if (reader->channels() != cfg.channels) {
        throw util::StageError("train: " + data_file.string() + " has " + std::to_string(reader->channels()) +
                               "-channel pages but channels is " + std::to_string(cfg.channels));
      }
      reader_res = res;
      reader_batch = batch;
    }
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
