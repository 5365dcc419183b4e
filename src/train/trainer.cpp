#include "deepzine/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <optional>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deepzine/imageio/png.h"
#include "deepzine/model/checkpoint.h"
#include "deepzine/ops/ops.h"
#include "deepzine/train/swd.h"
#include "deepzine/util/atomic_file.h"
#include "deepzine/util/log.h"
#include "deepzine/util/interrupt.h"
#include "deepzine/util/progress.h"

namespace deepzine::train {
namespace fs = std::filesystem;

std::string fingerprint(const model::ArchitectureSpec& a, int max_resolution) {
  return fmt::format("pggan-v1 latent={} channels={} max_filter={} reduction_depth={} legacy={} max_res={}",
                     a.latent_size, a.channels, a.max_filter, a.filter_reduction_depth, a.legacy_filters,
                     max_resolution);
}

std::vector<uint8_t> to_uint8_hwc(const torch::Tensor& images, int64_t scale) {
  torch::Tensor x = images.detach().to(torch::kCPU, torch::kFloat32);
  if (scale > 1) x = torch::upsample_nearest2d(x, {x.size(2) * scale, x.size(3) * scale});
  x = ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous();
  return std::vector<uint8_t>(x.data_ptr<uint8_t>(), x.data_ptr<uint8_t>() + x.numel());
}

// ------------------------------------------------------------------------------------------- trainer

struct Trainer::Impl {
  TrainerOptions options;
  BatchFn reals;
  model::Generator g{nullptr}, g_ema{nullptr};
  model::Discriminator d{nullptr};
  std::unique_ptr<Adam> opt_g, opt_d;
  std::vector<model::TrainingStage> stages;
  int64_t global_step = 0, images_seen = 0;
  torch::Tensor fixed_z;
  at::Generator noise;  // latents and penalty blends of the steps (saved in checkpoints as `rng`)

  void build() {
    const int max_res = options.schedule.output_size;
    g = model::Generator(options.arch, max_res);
    d = model::Discriminator(options.arch, max_res);
    g_ema = model::Generator(options.arch, max_res);
    model::load_state(*g_ema, model::state_of(*g), "EMA copy");
    for (auto& p : g_ema->parameters()) p.requires_grad_(false);
    g->to(options.device);
    d->to(options.device);
    g_ema->to(options.device);
    opt_g = std::make_unique<Adam>(*g, options.adam);
    opt_d = std::make_unique<Adam>(*d, options.adam);
    noise = at::make_generator<at::CPUGeneratorImpl>(options.seed + 2);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed + 1);
    fixed_z = torch::randn({16, options.arch.latent_size}, gen).to(options.device);
  }

  // Images (all ranks) trained at stage `index`'s resolution after `steps` steps of it: the EMA's ramp-up
  // restarts with each new resolution, whose new blocks start from their random initialisation.
  int64_t images_at_resolution(int index, int64_t steps) const {
    const int world = options.parallel.world_size;
    int64_t images = steps * stages[index].batch_size * world;
    for (int k = index - 1; k >= 0 && stages[k].resolution == stages[index].resolution; --k) {
      images += stages[k].iterations * stages[k].batch_size * world;
    }
    return images;
  }

  fs::path checkpoint_path(int res) const { return options.log_dir / std::to_string(res) / "checkpoint.pt"; }

  void save(int stage_index, int64_t stage_step, double alpha) {
    const model::TrainingStage& stage = stages[stage_index];
    model::Checkpoint checkpoint;
    checkpoint.meta.arch = options.arch;
    checkpoint.meta.max_resolution = options.schedule.output_size;
    checkpoint.meta.resolution = stage.resolution;
    checkpoint.meta.transition = stage.transition;
    checkpoint.meta.alpha = alpha;
    checkpoint.meta.stage_index = stage_index;
    checkpoint.meta.stage_step = stage_step;
    checkpoint.meta.global_step = global_step;
    checkpoint.meta.images_seen = images_seen;
    checkpoint.meta.fingerprint = fingerprint(options.arch, options.schedule.output_size);
    checkpoint.G = model::state_of(*g);
    checkpoint.G_ema = model::state_of(*g_ema);
    checkpoint.D = model::state_of(*d);
    checkpoint.opt_G = opt_g->state();
    checkpoint.opt_D = opt_d->state();
    checkpoint.rng = noise.get_state();
    util::log_removed_temporaries(util::remove_stale_temporaries(checkpoint_path(stage.resolution)));
    model::save_checkpoint(checkpoint_path(stage.resolution), checkpoint);
  }

  // The newest checkpoint under log_dir (highest global step), if any. One that cannot be read stops
  // the run only where it may be the newest: a run saves its resolutions in increasing order, so a
  // damaged checkpoint of a lower resolution than a good one is older, and is passed over with a warning.
  std::optional<std::pair<fs::path, model::Checkpoint>> newest_checkpoint() const {
    std::optional<std::pair<fs::path, model::Checkpoint>> best;
    std::vector<std::pair<int, std::string>> unreadable;  // resolution (-1: not a number), why
    std::error_code ec;
    if (!fs::is_directory(options.log_dir)) return best;
    for (auto& e : fs::directory_iterator(options.log_dir, ec)) {
      fs::path p = e.path() / "checkpoint.pt";
      if (!fs::exists(p)) continue;
      try {
        model::Checkpoint checkpoint = model::load_checkpoint(p);
        if (!best || checkpoint.meta.global_step > best->second.meta.global_step) best.emplace(p, std::move(checkpoint));
      } catch (const std::exception& error) {
        const std::string name = e.path().filename().string();
        const bool numeric = !name.empty() && name.size() < 6 && name.find_first_not_of("0123456789") == std::string::npos;
        unreadable.emplace_back(numeric ? std::stoi(name) : -1, error.what());
      }
    }
    for (const auto& [resolution, why] : unreadable) {
      if (!best || resolution < 0 || resolution >= best->second.meta.resolution)
        throw std::runtime_error(why + "; it may be the newest in log_dir: restore it, or remove it to resume from the "
                                       "newest checkpoint left (or start over)");
      spdlog::warn("{}; it is older than {} (a lower resolution), which training resumes from", why, best->first.string());
    }
    return best;
  }

  void write_metrics(const model::TrainingStage& stage, int64_t step, double alpha, const StepStats& stats, double ips,
                     const std::string& swd) {
    const fs::path file = options.log_dir / "metrics.csv";
    const bool fresh = !fs::exists(file);
    std::ofstream out(file, std::ios::app);
    if (!out) throw std::runtime_error("cannot append to " + file.string());
    if (fresh) out << "stage,resolution,transition,step,global_step,kimg,alpha,d_loss,g_loss,gp,drift,images_per_s,swd\n";
    out << fmt::format("{},{},{},{},{},{:.3f},{:.4f},{:.6g},{:.6g},{:.6g},{:.6g},{:.1f},{}\n", stage.name(), stage.resolution,
                       stage.transition ? 1 : 0, step, global_step, images_seen / 1000.0, alpha, stats.d_loss, stats.g_loss, stats.gp,
                       stats.drift, ips, swd);
    // A full disk fails the write, not the open: checked here so that no row goes missing unreported.
    out.flush();
    if (!out) throw std::runtime_error("cannot write to " + file.string() + " (disk full?): free space under log_dir");
  }

  // Rows logged after the checkpoint a run resumes from are logged again by the resumed run: drop them
  // so that every step appears once.
  void trim_metrics(int64_t resumed_step) {
    const fs::path file = options.log_dir / "metrics.csv";
    std::ifstream in(file);
    if (!in) return;
    std::string line, kept;
    bool header = true;
    while (std::getline(in, line)) {
      if (!header) {
        std::stringstream row(line);
        std::string cell;
        for (int i = 0; i < 5 && std::getline(row, cell, ','); ++i) {
        }
        try {
          if (std::stoll(cell) > resumed_step) continue;
        } catch (...) {
          continue;  // a row cut off by the kill
        }
      }
      header = false;
      kept += line + "\n";
    }
    in.close();
    util::write_file_atomic(file, kept);
  }

  void write_samples(const model::TrainingStage& stage, int64_t step, double alpha, const torch::Tensor& reals) {
    torch::NoGradGuard no_grad;
    const fs::path dir = options.samples_dir / ("samples_" + stage.name());
    const int64_t scale = std::max<int64_t>(1, 64 / stage.resolution);
    torch::Tensor fakes = g_ema->forward(fixed_z, stage.resolution, alpha);
    auto write = [&](const torch::Tensor& imgs, const std::string& what) {
      const int64_t n = imgs.size(0), side = imgs.size(2) * scale;
      auto pixels = to_uint8_hwc(imgs, scale);
      imageio::write_png(dir / fmt::format("{:06d}_{}.png", step, what),
                         imageio::tile_grid(pixels.data(), static_cast<int>(n), static_cast<int>(side),
                                            static_cast<int>(side), static_cast<int>(imgs.size(1)), 4));
    };
    write(fakes, "fake");
    write(reals.slice(0, 0, std::min<int64_t>(16, reals.size(0))), "real");
  }

  std::string stage_swd(int index) {
    const model::TrainingStage& stage = stages[index];
    if (options.swd_images <= 0) return "";
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> real_parts, fake_parts;
    int64_t have = 0;
    for (int64_t batch = stage.iterations; have < options.swd_images; ++batch) {
      torch::Tensor r = reals({stage.resolution, stage.batch_size, index, batch});
      real_parts.push_back(r.to(torch::kCPU));
      fake_parts.push_back(
          g_ema->forward(torch::randn({r.size(0), options.arch.latent_size}, torch::TensorOptions().device(options.device)),
                         stage.resolution, 1.0).to(torch::kCPU));
      have += r.size(0);
    }
    auto r = torch::cat(real_parts).slice(0, 0, options.swd_images), f = torch::cat(fake_parts).slice(0, 0, options.swd_images);
    auto levels = sliced_wasserstein(r, f);
    std::string text;
    double sum = 0;
    for (double v : levels) {
      text += (text.empty() ? "" : " ") + fmt::format("{:.2f}", v);
      sum += v;
    }
    spdlog::info("stage {}: SWD x1e3 per level (finest first) {} ; mean {:.2f} ({} images)", stage.name(), text,
                 sum / levels.size(), options.swd_images);
    return fmt::format("{:.4f}", sum / levels.size());
  }

  // Where training continues: the newest checkpoint in log_dir, else the model saved at half of a
  // starting_size > 4, else the beginning.
  struct Position {
    int stage = 0;
    int64_t step = 0;
  };

  Position restore() {
    if (auto newest = newest_checkpoint()) return resume_from(newest->first, newest->second);
    if (options.schedule.starting_size > 4) continue_from_half_resolution();
    return {};
  }

  Position resume_from(const fs::path& path, const model::Checkpoint& checkpoint) {
    const std::string want = fingerprint(options.arch, options.schedule.output_size);
    if (checkpoint.meta.fingerprint != want) {
      throw std::runtime_error("log_dir " + options.log_dir.string() + " holds a checkpoint of a different model (" +
                               checkpoint.meta.fingerprint + "; this config: " + want +
                               "). Use another log_dir, or remove the old checkpoints.");
    }
    model::load_state(*g, checkpoint.G, path.string() + " (G)");
    model::load_state(*g_ema, checkpoint.G_ema, path.string() + " (G_ema)");
    model::load_state(*d, checkpoint.D, path.string() + " (D)");
    opt_g->load_state(checkpoint.opt_G);
    opt_d->load_state(checkpoint.opt_D);
    if (checkpoint.rng.numel() > 0) noise.set_state(checkpoint.rng);
    global_step = checkpoint.meta.global_step;
    if (options.parallel.writer()) trim_metrics(global_step);
    images_seen = checkpoint.meta.images_seen;
    Position at{checkpoint.meta.stage_index, checkpoint.meta.stage_step};
    if (at.stage < static_cast<int>(stages.size()) && at.step >= stages[at.stage].iterations) at = {at.stage + 1, 0};
    spdlog::info("resuming from {} at step {} (stage {}, step {} of it)", path.string(), global_step,
                 at.stage < static_cast<int>(stages.size()) ? stages[at.stage].name() : "done", at.step);
    return at;
  }

  void continue_from_half_resolution() {
    const fs::path previous = checkpoint_path(options.schedule.starting_size / 2);
    if (!fs::exists(previous)) {
      throw std::runtime_error("gan_starting_size " + std::to_string(options.schedule.starting_size) +
                               " continues from the model saved at " + previous.string() + ", which does not exist");
    }
    model::Checkpoint checkpoint = model::load_checkpoint(previous);
    model::load_state(*g, checkpoint.G, previous.string());
    model::load_state(*g_ema, checkpoint.G_ema, previous.string());
    model::load_state(*d, checkpoint.D, previous.string());
    spdlog::info("starting at {}x{} from {}", options.schedule.starting_size, options.schedule.starting_size, previous.string());
  }

  // Data parallelism: every rank takes rank 0's G and D (and a fresh EMA copy of that G).
  void attach_ranks() {
    const ParallelHooks& ranks = options.parallel;
    if (!ranks.attach) return;
    const bool fresh = global_step == 0 && options.schedule.starting_size <= 4;
    ranks.attach(g, d);
    if (fresh) model::load_state(*g_ema, model::state_of(*g), "EMA copy");
    spdlog::info("data-parallel: rank {} of {}; every rank draws the global batch's noise and uses its share",
                 ranks.rank, ranks.world_size);
  }

  // Losses of steps not read yet: they stay on the device until read, a log_interval at a time (one
  // synchronisation). Reading them checks for divergence.
  struct PendingLosses {
    std::vector<std::pair<int64_t, StepLosses>> steps;
    StepStats last;
  };

  StepStats read_pending(PendingLosses& pending, const model::TrainingStage& stage) {
    std::vector<StepLosses> losses;
    for (auto& entry : pending.steps) losses.push_back(entry.second);
    auto stats = read_losses(losses);
    for (size_t i = 0; i < stats.size(); ++i) {
      if (!std::isfinite(stats[i].d_loss) || !std::isfinite(stats[i].g_loss)) {
        throw std::runtime_error(fmt::format("training diverged at global step {} of stage {} (D loss {}, G loss {}); "
                                             "lower learning_rate and rerun (it resumes from the last checkpoint)",
                                             pending.steps[i].first, stage.name(), stats[i].d_loss, stats[i].g_loss));
      }
    }
    pending.steps.clear();
    if (!stats.empty()) pending.last = stats.back();
    return pending.last;
  }

  struct StageEnd {
    double alpha = 1.0;
    StepStats last;  // the losses of the stage's last step
  };

  // Trains stage `index` from `start_step` to its end. Saves and throws util::Interrupted when a stop
  // was requested.
  StageEnd run_stage(TrainStep& step_fn, int index, int64_t start_step) {
    const model::TrainingStage& stage = stages[index];
    const ParallelHooks& ranks = options.parallel;
    spdlog::info("stage {} ({}x{}{}): {} steps, batch {}", stage.name(), stage.resolution, stage.resolution,
                 stage.transition ? ", fading in" : "", stage.iterations, stage.batch_size);
    util::log_removed_temporaries(util::remove_stale_temporaries_in(options.samples_dir / ("samples_" + stage.name())));
    util::Progress progress("stage " + stage.name(), stage.iterations, "step");
    progress.advance(start_step);
    if (start_step == 0) {
      // A new stage changes what the networks compute (a new block, or the fade-in ending): restart
      // Adam's moments and warm-up, as Karras's reset_opt_for_new_lod.
      opt_g->reset();
      opt_d->reset();
    }
    auto last_log = std::chrono::steady_clock::now();
    int64_t images_since_log = 0;
    double alpha = 1.0;
    PendingLosses pending;
    for (int64_t step = start_step; step < stage.iterations; ++step) {
      alpha = stage.transition ? static_cast<double>(step) / stage.iterations : 1.0;
      torch::Tensor batch = reals({stage.resolution, stage.batch_size, index, step}).to(options.device, /*non_blocking=*/true);
      const int64_t global_batch = batch.size(0) * ranks.world_size;
      const double ema_decay = ema_beta(options.ema, global_batch, images_at_resolution(index, step + 1));
      pending.steps.emplace_back(global_step + 1, step_fn.run(batch, stage.resolution, alpha, ema_decay));
      ++global_step;
      images_seen += batch.size(0);
      images_since_log += batch.size(0);
      progress.advance();
      const bool log_point = step % options.log_interval == 0 || step + 1 == stage.iterations;
      if (log_point) {
        const StepStats stats = read_pending(pending, stage);
        progress.set_postfix(fmt::format("D {:.3f} G {:.3f}", stats.d_loss, stats.g_loss));
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - last_log).count();
        const double images_per_s = seconds > 0 ? images_since_log / seconds : 0.0;
        spdlog::info("stage {} step {}/{}: D {:.4f} G {:.4f} GP {:.4f} drift {:.4f} alpha {:.3f} {:.1f} img/s "
                     "{:.1f} kimg",
                     stage.name(), step + 1, stage.iterations, stats.d_loss, stats.g_loss, stats.gp, stats.drift,
                     alpha, images_per_s, images_seen / 1000.0);
        if (ranks.writer()) {
          write_metrics(stage, step + 1, alpha, stats, images_per_s, "");
          if (options.on_progress) options.on_progress(false);
        }
        last_log = now;
        images_since_log = 0;
      }
      if (ranks.writer() && (step + 1) % options.sample_interval == 0) write_samples(stage, step + 1, alpha, batch);
      bool stop = util::interrupted();
      // Ranks agree on stopping at log points (one small all-reduce), so all stop at the same step.
      if (ranks.any) stop = log_point ? ranks.any(stop) : false;
      if ((step + 1) % options.save_interval == 0 || stop) {
        read_pending(pending, stage);  // never checkpoint a diverged model
        if (ranks.writer()) save(index, step + 1, alpha);
      }
      if (stop) {
        progress.stop();
        spdlog::warn("interrupted: saved {} at step {}", checkpoint_path(stage.resolution).string(), global_step);
        throw util::Interrupted{};
      }
    }
    progress.finish();
    return {alpha, pending.last};
  }

  // The stage-end checkpoint, SWD row and report (writer rank only).
  void finish_stage(int index, double alpha, const StepStats& last) {
    const model::TrainingStage& stage = stages[index];
    save(index, stage.iterations, stage.transition ? 1.0 : alpha);
    const std::string swd = stage_swd(index);
    if (!swd.empty()) write_metrics(stage, stage.iterations, 1.0, last, 0.0, swd);
    if (options.on_progress) options.on_progress(true);
    spdlog::info("stage {} done: {}", stage.name(), checkpoint_path(stage.resolution).string());
  }
};

Trainer::Trainer(TrainerOptions options, BatchFn reals) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->reals = std::move(reals);
  impl_->stages = impl_->options.schedule.stages();
  torch::manual_seed(impl_->options.seed);
  impl_->build();
}

Trainer::~Trainer() = default;

model::Generator Trainer::generator_ema() const { return impl_->g_ema; }

void Trainer::run() {
  Impl& impl = *impl_;
  fs::create_directories(impl.options.log_dir);
  fs::create_directories(impl.options.samples_dir);
  const Impl::Position from = impl.restore();
  impl.attach_ranks();
  TrainStep step_fn(impl.g, impl.d, impl.g_ema, *impl.opt_g, *impl.opt_d, impl.options, impl.noise);
  for (int stage = from.stage; stage < static_cast<int>(impl.stages.size()); ++stage) {
    const Impl::StageEnd end = impl.run_stage(step_fn, stage, stage == from.stage ? from.step : 0);
    if (impl.options.parallel.writer()) impl.finish_stage(stage, end.alpha, end.last);
  }
}

}  // namespace deepzine::train
