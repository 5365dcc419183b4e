// Sample quality of this project's training against the independent PyTorch PGGAN
// (bench/pggan_reference_train.py) on the same pages, schedule, batch, latent, filters and images.
// Both are scored with one SWD (train/swd.h) against reals, beside real-vs-real; both sheets saved.
// Usage: quality PAGES.h5 OUT_DIR [--res 32] [--steps 400] [--batch 16] [--latent 32] [--max-filter 32]
//                [--channels 1] [--samples 512] [--seed 1] [--augment translation,cutout,color] [--lr 0.003]
//                [--reference bench/pggan_reference_train.py] [--skip-reference]
//                [--reference-samples FILE.npy]  (the reference's samples from a run of it started
//                                                 separately with the same options, e.g. on another core)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "deepzine/data/page_dataset.h"
#include "deepzine/imageio/png.h"
#include "deepzine/sample/npy.h"
#include "deepzine/train/swd.h"
#include "deepzine/train/trainer.h"

namespace fs = std::filesystem;
using namespace deepzine;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

torch::Tensor read_pages(const fs::path& file, int res, int channels, int count, uint64_t seed) {
  data::PageDatasetOptions d;
  d.file = file;
  d.resolution = res;
  d.batch_size = count;
  d.seed = seed;
  d.channels = channels;
  data::PageDataset reader(d);
  return reader.next_batch();
}

// Every page of `file` once, in a shuffled order.
torch::Tensor read_all_pages(const fs::path& file, int res, int channels, uint64_t seed) {
  data::PageDatasetOptions d;
  d.file = file;
  d.resolution = res;
  d.seed = seed;
  d.channels = channels;
  d.batch_size = static_cast<int>(data::PageDataset(d).size());
  data::PageDataset reader(d);
  return reader.next_batch();
}

// `count` pages drawn (with replacement) from `pages`.
torch::Tensor draw(const torch::Tensor& pages, int count, uint64_t seed) {
  auto rng = at::make_generator<at::CPUGeneratorImpl>(seed);
  return pages.index_select(0, torch::randint(pages.size(0), {count}, rng, torch::kLong));
}

double mean_swd(const torch::Tensor& a, const torch::Tensor& b) {
  double sum = 0;
  auto levels = train::sliced_wasserstein(a, b);
  for (double v : levels) sum += v;
  return sum / levels.size();
}

// Diversity: the per-pixel standard deviation across the set, averaged over pixels. A collapsed G
// (every sample the same page) scores ~0 however good its one page; SWD on 7x7 patches barely sees it.
double spread(const torch::Tensor& images) { return images.std(0).mean().item<double>(); }

void write_sheet(const fs::path& file, const torch::Tensor& images) {
  const int n = std::min<int>(64, images.size(0));
  const int64_t scale = std::max<int64_t>(1, 64 / images.size(2));
  auto pixels = train::to_uint8_hwc(images.slice(0, 0, n), scale);
  const int side = static_cast<int>(images.size(2) * scale);
  imageio::write_png(file, imageio::tile_grid(pixels.data(), n, side, side, static_cast<int>(images.size(1)), 8));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: quality PAGES.h5 OUT_DIR [--res 32] [--steps 400] ... (see the source)\n");
    return 2;
  }
  const fs::path pages = argv[1], out = argv[2];
  std::map<std::string, std::string> arg{{"--res", "32"},         {"--steps", "400"},   {"--batch", "16"},
                                         {"--latent", "32"},      {"--max-filter", "32"}, {"--channels", "1"},
                                         {"--samples", "512"},    {"--seed", "1"},      {"--augment", "translation,cutout,color"}, {"--augment-p", "0.25"},
                                         {"--lr", "0.003"},       {"--reference", "bench/pggan_reference_train.py"},
                                         {"--skip-reference", "0"}, {"--reference-samples", ""}};
  for (int i = 3; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--skip-reference") arg[key] = "1";
    else if (arg.count(key) && i + 1 < argc) arg[key] = argv[++i];
    else {
      std::fprintf(stderr, "quality: unknown or incomplete option %s\n", key.c_str());
      return 2;
    }
  }
  const int res = std::stoi(arg["--res"]), channels = std::stoi(arg["--channels"]);
  const int samples = std::stoi(arg["--samples"]);
  fs::create_directories(out);

  train::TrainerOptions o;
  o.arch.latent_size = std::stoi(arg["--latent"]);
  o.arch.channels = channels;
  o.arch.max_filter = std::stoi(arg["--max-filter"]);
  o.arch.filter_reduction_depth = 10;  // no reduction up to 1024 (as --reduction-size 1024)
  o.schedule.output_size = res;
  o.schedule.iterations_per_stage = std::stoll(arg["--steps"]);
  o.schedule.batch_size = o.schedule.reduced_batch_size = std::stoi(arg["--batch"]);
  o.schedule.batch_reduction_depth = 20;
  o.adam.lr = std::stod(arg["--lr"]);
  o.augment = train::parse_augment(arg["--augment"]);
  o.augment.probability = std::stod(arg["--augment-p"]);
  o.swd_images = 0;
  o.sample_interval = o.save_interval = 1 << 30;
  o.log_interval = 100;
  o.log_dir = out / "deepzine_log";
  o.samples_dir = out / "deepzine_samples";
  o.seed = std::stoull(arg["--seed"]);
  fs::remove_all(o.log_dir);
  int stage_count = 1;
  for (int r = 8; r <= res; r *= 2) stage_count += 2;
  uint64_t reader_seed = o.seed;
  std::unique_ptr<data::PageDataset> reader;
  int reader_stage = -1;
  train::BatchFn reals = [&](const train::BatchRequest& want) {
    if (!reader || reader_stage != want.stage) {
      reader.reset();
      data::PageDatasetOptions d;
      d.file = pages;
      d.resolution = want.resolution;
      d.batch_size = want.batch_size;
      d.seed = reader_seed + want.stage;
      d.channels = channels;
      reader = std::make_unique<data::PageDataset>(d);
      reader_stage = want.stage;
    }
    return reader->next_batch();
  };
  auto t0 = std::chrono::steady_clock::now();
  torch::Tensor ours;
  {
    train::Trainer trainer(o, reals);
    trainer.run();
    torch::NoGradGuard no_grad;
    auto rng = at::make_generator<at::CPUGeneratorImpl>(o.seed + 7);
    ours = trainer.generator_ema()->forward(at::randn({samples, o.arch.latent_size}, rng, torch::TensorOptions()), res, 1.0);
  }
  const double our_seconds = seconds_since(t0);
  const int64_t images = o.schedule.iterations_per_stage * stage_count * o.schedule.batch_size;

  torch::Tensor reference;
  double reference_seconds = 0;
  if (!arg["--reference-samples"].empty()) {
    const fs::path npy = arg["--reference-samples"];
    // The separately started reference may still be training: wait for its file to appear and settle.
    std::error_code ec;
    bool said = false;
    for (uintmax_t last = 0;;) {
      const uintmax_t now = fs::exists(npy, ec) ? fs::file_size(npy, ec) : 0;
      if (now > 0 && now == last) break;
      if (!said) std::fprintf(stderr, "quality: waiting for %s\n", npy.c_str());
      said = true;
      last = now;
      std::this_thread::sleep_for(std::chrono::seconds(5));
    }
    reference = sample::read_npy(npy).view({samples, channels, res, res});
  } else if (arg["--skip-reference"] != "1") {
    const fs::path npy = out / "reference_samples.npy";
    const std::string cmd = "/usr/bin/python3 '" + arg["--reference"] + "' '" + pages.string() + "' '" + npy.string() +
                            "' --resolution " + arg["--res"] + " --steps-per-stage " + arg["--steps"] + " --batch " +
                            arg["--batch"] + " --latent " + arg["--latent"] + " --max-filter " + arg["--max-filter"] +
                            " --channels " + arg["--channels"] + " --samples " + arg["--samples"] + " --seed " +
                            arg["--seed"] + " --lr " + arg["--lr"] + " --threads " +
                            std::to_string(at::get_num_threads());
    t0 = std::chrono::steady_clock::now();
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "quality: the reference failed: %s\n", cmd.c_str());
      return 1;
    }
    reference_seconds = seconds_since(t0);
    reference = sample::read_npy(npy).view({samples, channels, res, res});
  }

  // Real vs real, two ways. Resampling: two draws of `samples` from every page (with a few hundred
  // pages they share most pages, so this floor is what memorising the corpus would score). Disjoint
  // halves: draws from two halves of the corpus with no page in common, i.e. two independent samples of
  // the pages' distribution; fakes are scored against the first half's draw, as a new real page is.
  torch::Tensor real_a = read_pages(pages, res, channels, samples, 1001);
  torch::Tensor real_b = read_pages(pages, res, channels, samples, 2002);
  const torch::Tensor all = read_all_pages(pages, res, channels, 3003);
  const int64_t half = all.size(0) / 2;
  const torch::Tensor half_a = draw(all.slice(0, 0, half), samples, 4004);
  const torch::Tensor half_b = draw(all.slice(0, half, 2 * half), samples, 5005);
  write_sheet(out / "reals_sheet.png", real_a);
  write_sheet(out / "deepzine_sheet.png", ours);
  const double swd_ours = mean_swd(real_a, ours), swd_real = mean_swd(real_a, real_b);
  const double swd_ours_half = mean_swd(half_a, ours), swd_halves = mean_swd(half_a, half_b);
  std::printf("\nquality: %s, %dx%d, %lld steps/stage, batch %s, latent %s, max_filter %s, %d channel(s), "
              "augment %s (p %s), lr %s; %lld images each; SWD x1e3 (mean of levels) of %d samples vs %d reals\n",
              pages.string().c_str(), res, res, static_cast<long long>(o.schedule.iterations_per_stage),
              arg["--batch"].c_str(), arg["--latent"].c_str(), arg["--max-filter"].c_str(), channels,
              o.augment.describe().c_str(), arg["--augment-p"].c_str(), arg["--lr"].c_str(), static_cast<long long>(images), samples, samples);
  const double real_spread = spread(real_a);
  std::printf("  %-38s %10s %14s %14s %10s\n", "", "SWD", "SWD vs half A", "spread/reals'", "seconds");
  std::printf("  %-38s %10.2f %14.2f %14.2f %10.1f\n", "deepzine", swd_ours, swd_ours_half, spread(ours) / real_spread,
              our_seconds);
  if (reference.defined()) {
    write_sheet(out / "reference_sheet.png", reference);
    std::printf("  %-38s %10.2f %14.2f %14.2f %10.1f\n", "reference (PyTorch, pggan_reference)",
                mean_swd(real_a, reference), mean_swd(half_a, reference), spread(reference) / real_spread,
                reference_seconds);
  }
  std::printf("  %-38s %10.2f %14s %14.2f\n", "real vs real (two draws of all pages)", swd_real, "",
              spread(real_b) / real_spread);
  std::printf("  %-38s %10s %14.2f %14.2f   (%lld pages each)\n", "real vs real (disjoint halves)", "", swd_halves,
              spread(half_b) / real_spread, static_cast<long long>(half));
  std::printf("sheets: %s/{deepzine,reference,reals}_sheet.png\n", out.string().c_str());
  return 0;
}
