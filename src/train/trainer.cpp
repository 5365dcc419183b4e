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
#include "deepzine/train/plot.h"
#include "deepzine/train/swd.h"
#include "deepzine/util/atomic_file.h"
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
  TrainerOptions o;
  BatchFn reals;
  model::Generator g{nullptr}, g_ema{nullptr};
  model::Discriminator d{nullptr};
  std::unique_ptr<Adam> opt_g, opt_d;
  std::vector<model::TrainingStage> stages;
  int64_t global_step = 0, images_seen = 0;
  torch::Tensor fixed_z;
  at::Generator noise;  // latents and penalty blends of the steps (saved in checkpoints as `rng`)
  std::vector<std::pair<int64_t, StepStats>> curve;  // this stage's losses, for the plot

  void build() {
    const int max_res = o.schedule.output_size;
    g = model::Generator(o.arch, max_res);
    d = model::Discriminator(o.arch, max_res);
    g_ema = model::Generator(o.arch, max_res);
    model::load_state(*g_ema, model::state_of(*g), "EMA copy");
    for (auto& p : g_ema->parameters()) p.requires_grad_(false);
    g->to(o.device);
    d->to(o.device);
    g_ema->to(o.device);
    opt_g = std::make_unique<Adam>(*g, o.adam);
    opt_d = std::make_unique<Adam>(*d, o.adam);
    noise = at::make_generator<at::CPUGeneratorImpl>(o.seed + 2);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + 1);
    fixed_z = torch::randn({16, o.arch.latent_size}, gen).to(o.device);
  }

  // Images (all ranks) trained at stage `si`'s resolution after `steps` steps of it: the EMA's ramp-up
  // restarts with each new resolution, whose new blocks start from their random initialisation.
  int64_t images_at_resolution(int si, int64_t steps) const {
    const int world = o.parallel.world_size;
    int64_t images = steps * stages[si].batch_size * world;
    for (int k = si - 1; k >= 0 && stages[k].resolution == stages[si].resolution; --k) {
      images += stages[k].iterations * stages[k].batch_size * world;
    }
    return images;
  }

  fs::path checkpoint_path(int res) const { return o.log_dir / std::to_string(res) / "checkpoint.pt"; }

  void save(int stage_index, int64_t stage_step, double alpha) {
    const auto& st = stages[stage_index];
    model::Checkpoint c;
    c.meta.arch = o.arch;
    c.meta.max_resolution = o.schedule.output_size;
    c.meta.resolution = st.resolution;
    c.meta.transition = st.transition;
    c.meta.alpha = alpha;
    c.meta.stage_index = stage_index;
    c.meta.stage_step = stage_step;
    c.meta.global_step = global_step;
    c.meta.images_seen = images_seen;
    c.meta.fingerprint = fingerprint(o.arch, o.schedule.output_size);
    c.G = model::state_of(*g);
    c.G_ema = model::state_of(*g_ema);
    c.D = model::state_of(*d);
    c.opt_G = opt_g->state();
    c.opt_D = opt_d->state();
    c.rng = noise.get_state();
    model::save_checkpoint(checkpoint_path(st.resolution), c);
  }

  // The newest checkpoint under log_dir (highest global step), if any.
  std::optional<std::pair<fs::path, model::Checkpoint>> newest_checkpoint() const {
    std::optional<std::pair<fs::path, model::Checkpoint>> best;
    std::error_code ec;
    if (!fs::is_directory(o.log_dir)) return best;
    for (auto& e : fs::directory_iterator(o.log_dir, ec)) {
      fs::path p = e.path() / "checkpoint.pt";
      if (!fs::exists(p)) continue;
      model::Checkpoint c = model::load_checkpoint(p);
      if (!best || c.meta.global_step > best->second.meta.global_step) best.emplace(p, std::move(c));
    }
    return best;
  }

  void write_metrics(const model::TrainingStage& st, int64_t step, double alpha, const StepStats& s, double ips,
                     const std::string& swd) {
    const fs::path file = o.log_dir / "metrics.csv";
    const bool fresh = !fs::exists(file);
    std::ofstream out(file, std::ios::app);
    if (!out) throw std::runtime_error("cannot append to " + file.string());
    if (fresh) out << "stage,resolution,transition,step,global_step,kimg,alpha,d_loss,g_loss,gp,drift,images_per_s,swd\n";
    out << fmt::format("{},{},{},{},{},{:.3f},{:.4f},{:.6g},{:.6g},{:.6g},{:.6g},{:.1f},{}\n", st.name(), st.resolution,
                       st.transition ? 1 : 0, step, global_step, images_seen / 1000.0, alpha, s.d_loss, s.g_loss, s.gp,
                       s.drift, ips, swd);
  }

  // Rows logged after the checkpoint a run resumes from are logged again by the resumed run: drop them
  // so that every step appears once.
  void trim_metrics(int64_t resumed_step) {
    const fs::path file = o.log_dir / "metrics.csv";
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

  void write_samples(const model::TrainingStage& st, int64_t step, double alpha, const torch::Tensor& reals) {
    torch::NoGradGuard no_grad;
    const fs::path dir = o.samples_dir / ("samples_" + st.name());
    const int64_t scale = std::max<int64_t>(1, 64 / st.resolution);
    torch::Tensor fakes = g_ema->forward(fixed_z, st.resolution, alpha);
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

  std::string stage_swd(int si) {
    const model::TrainingStage& st = stages[si];
    if (o.swd_images <= 0) return "";
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> real_parts, fake_parts;
    int64_t have = 0;
    for (int64_t batch = st.iterations; have < o.swd_images; ++batch) {
      torch::Tensor r = reals({st.resolution, st.batch_size, si, batch});
      real_parts.push_back(r.to(torch::kCPU));
      fake_parts.push_back(
          g_ema->forward(torch::randn({r.size(0), o.arch.latent_size}, torch::TensorOptions().device(o.device)),
                         st.resolution, 1.0).to(torch::kCPU));
      have += r.size(0);
    }
    auto r = torch::cat(real_parts).slice(0, 0, o.swd_images), f = torch::cat(fake_parts).slice(0, 0, o.swd_images);
    auto levels = sliced_wasserstein(r, f);
    std::string text;
    double sum = 0;
    for (double v : levels) {
      text += (text.empty() ? "" : " ") + fmt::format("{:.2f}", v);
      sum += v;
    }
    spdlog::info("stage {}: SWD x1e3 per level (finest first) {} ; mean {:.2f} ({} images)", st.name(), text,
                 sum / levels.size(), o.swd_images);
    return fmt::format("{:.4f}", sum / levels.size());
  }
};

Trainer::Trainer(TrainerOptions options, BatchFn reals) : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->reals = std::move(reals);
  impl_->stages = impl_->o.schedule.stages();
  torch::manual_seed(impl_->o.seed);
  impl_->build();
}

Trainer::~Trainer() = default;

model::Generator Trainer::generator_ema() const { return impl_->g_ema; }

void Trainer::run() {
  Impl& m = *impl_;
  fs::create_directories(m.o.log_dir);
  fs::create_directories(m.o.samples_dir);
  int first_stage = 0;
  int64_t first_step = 0;
  if (auto ck = m.newest_checkpoint()) {
    const auto& [path, c] = *ck;
    const std::string want = fingerprint(m.o.arch, m.o.schedule.output_size);
    if (c.meta.fingerprint != want) {
      throw std::runtime_error("log_dir " + m.o.log_dir.string() + " holds a checkpoint of a different model (" +
                               c.meta.fingerprint + "; this config: " + want +
                               "). Use another log_dir, or remove the old checkpoints.");
    }
    model::load_state(*m.g, c.G, path.string() + " (G)");
    model::load_state(*m.g_ema, c.G_ema, path.string() + " (G_ema)");
    model::load_state(*m.d, c.D, path.string() + " (D)");
    m.opt_g->load_state(c.opt_G);
    m.opt_d->load_state(c.opt_D);
    if (c.rng.numel() > 0) m.noise.set_state(c.rng);
    m.global_step = c.meta.global_step;
    if (m.o.parallel.writer()) m.trim_metrics(m.global_step);
    m.images_seen = c.meta.images_seen;
    first_stage = c.meta.stage_index;
    first_step = c.meta.stage_step;
    if (first_stage < static_cast<int>(m.stages.size()) && first_step >= m.stages[first_stage].iterations) {
      ++first_stage;
      first_step = 0;
    }
    spdlog::info("resuming from {} at step {} (stage {}, step {} of it)", path.string(), m.global_step,
                 first_stage < static_cast<int>(m.stages.size()) ? m.stages[first_stage].name() : "done", first_step);
  } else if (m.o.schedule.starting_size > 4) {
    const fs::path prev = m.checkpoint_path(m.o.schedule.starting_size / 2);
    if (!fs::exists(prev)) {
      throw std::runtime_error("gan_starting_size " + std::to_string(m.o.schedule.starting_size) +
                               " continues from the model saved at " + prev.string() + ", which does not exist");
    }
    model::Checkpoint c = model::load_checkpoint(prev);
    model::load_state(*m.g, c.G, prev.string());
    model::load_state(*m.g_ema, c.G_ema, prev.string());
    model::load_state(*m.d, c.D, prev.string());
    spdlog::info("starting at {}x{} from {}", m.o.schedule.starting_size, m.o.schedule.starting_size, prev.string());
  }

  const ParallelHooks& par = m.o.parallel;
  const bool writer = par.writer();
  if (par.attach) {
    const bool fresh = m.global_step == 0 && m.o.schedule.starting_size <= 4;
    par.attach(m.g, m.d);  // every rank now holds rank 0's G and D
    if (fresh) model::load_state(*m.g_ema, model::state_of(*m.g), "EMA copy");
    spdlog::info("data-parallel: rank {} of {}; every rank draws the global batch's noise and uses its share",
                 par.rank, par.world_size);
  }
  TrainStep step_fn(m.g, m.d, m.g_ema, *m.opt_g, *m.opt_d, m.o, m.noise);
  for (int si = first_stage; si < static_cast<int>(m.stages.size()); ++si) {
    const model::TrainingStage& st = m.stages[si];
    m.curve.clear();
    spdlog::info("stage {} ({}x{}{}): {} steps, batch {}", st.name(), st.resolution, st.resolution,
                 st.transition ? ", fading in" : "", st.iterations, st.batch_size);
    util::Progress progress("stage " + st.name(), st.iterations, "step");
    progress.advance(si == first_stage ? first_step : 0);
    auto last_log = std::chrono::steady_clock::now();
    int64_t images_since_log = 0;
    double alpha = 1.0;
    // Losses stay on the device until read, a log_interval at a time (one synchronisation).
    std::vector<std::pair<int64_t, StepLosses>> pending;
    StepStats s;
    auto flush = [&](int64_t step) {
      std::vector<StepLosses> l;
      for (auto& p : pending) l.push_back(p.second);
      auto stats = read_losses(l);
      for (size_t i = 0; i < stats.size(); ++i) {
        if (!std::isfinite(stats[i].d_loss) || !std::isfinite(stats[i].g_loss)) {
          throw std::runtime_error(fmt::format("training diverged at global step {} of stage {} (D loss {}, G loss {}); "
                                               "lower learning_rate and rerun (it resumes from the last checkpoint)",
                                               pending[i].first, st.name(), stats[i].d_loss, stats[i].g_loss));
        }
        m.curve.emplace_back(pending[i].first, stats[i]);
      }
      pending.clear();
      return stats.empty() ? s : stats.back();
    };
    const int64_t start_step = si == first_stage ? first_step : 0;
    if (start_step == 0) {
      // A new stage changes what the networks compute (a new block, or the fade-in ending): restart
      // Adam's moments and warm-up, as Karras's reset_opt_for_new_lod.
      m.opt_g->reset();
      m.opt_d->reset();
    }
    for (int64_t step = start_step; step < st.iterations; ++step) {
      alpha = st.transition ? static_cast<double>(step) / st.iterations : 1.0;
      torch::Tensor reals = m.reals({st.resolution, st.batch_size, si, step}).to(m.o.device, /*non_blocking=*/true);
      const int64_t global_batch = reals.size(0) * par.world_size;
      const double ema_decay = ema_beta(m.o.ema, global_batch, m.images_at_resolution(si, step + 1));
      pending.emplace_back(m.global_step + 1, step_fn.run(reals, st.resolution, alpha, ema_decay));
      ++m.global_step;
      m.images_seen += reals.size(0);
      images_since_log += reals.size(0);
      progress.advance();
      if (step % m.o.log_interval == 0 || step + 1 == st.iterations) {
        s = flush(step);
        progress.set_postfix(fmt::format("D {:.3f} G {:.3f}", s.d_loss, s.g_loss));
        const auto now = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(now - last_log).count();
        const double ips = secs > 0 ? images_since_log / secs : 0.0;
        spdlog::info("stage {} step {}/{}: D {:.4f} G {:.4f} GP {:.4f} drift {:.4f} alpha {:.3f} {:.1f} img/s "
                     "{:.1f} kimg",
                     st.name(), step + 1, st.iterations, s.d_loss, s.g_loss, s.gp, s.drift, alpha, ips,
                     m.images_seen / 1000.0);
        if (writer) m.write_metrics(st, step + 1, alpha, s, ips, "");
        last_log = now;
        images_since_log = 0;
      }
      if (writer && (step + 1) % m.o.sample_interval == 0) m.write_samples(st, step + 1, alpha, reals);
      bool stop = util::interrupted();
      if (par.any) {
        // Ranks agree on stopping at log points (one small all-reduce), so all stop at the same step.
        const bool agree_now = step % m.o.log_interval == 0 || step + 1 == st.iterations;
        stop = agree_now ? par.any(stop) : false;
      }
      if ((step + 1) % m.o.save_interval == 0 || stop) {
        if (!stop) flush(step);  // never checkpoint a diverged model
        if (writer) m.save(si, step + 1, alpha);
      }
      if (stop) {
        flush(step);
        progress.finish();
        spdlog::warn("interrupted: saved {} at step {}", m.checkpoint_path(st.resolution).string(), m.global_step);
        throw util::Interrupted{};
      }
    }
    progress.finish();
    if (!writer) continue;
    m.save(si, st.iterations, st.transition ? 1.0 : alpha);
    const std::string swd = m.stage_swd(si);
    if (!swd.empty()) m.write_metrics(st, st.iterations, 1.0, m.curve.back().second, 0.0, swd);
    write_loss_curve(m.o.log_dir / ("loss_" + st.name() + ".png"), m.curve);
    spdlog::info("stage {} done: {}", st.name(), m.checkpoint_path(st.resolution).string());
  }
}

}  // namespace deepzine::train
