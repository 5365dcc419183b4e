// Times one full training step (D update with gradient penalty, G update, EMA) of this project's PGGAN
// per resolution, the unit bench/pggan_reference.py times for PyTorch (Python) eager.
// Usage: train_step_bench [--device cpu|cuda] [--resolutions 16,64,256] [--batch 16] [--steps 20]
//                         [--latent 128] [--max-filter 128] [--reduction-size 128] [--threads N]
//                         [--kernels on|off] [--bf16 on|off] [--channels-last on|off] [--peak-tflops 989]
// --kernels: the fused ops (CUDA kernels on a GPU, their host twins on the CPU) or the ATen references.
// --peak-tflops: the device's dense bf16 peak for the "of peak" column (H100 SXM: 989).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/Context.h>

#include "deepzine/model/pggan.h"
#include "deepzine/ops/ops.h"
#include "deepzine/train/step.h"

using namespace deepzine;

namespace {
// Forward FLOPs (multiply-adds x 2) of the convolutions and dense layers used at `res`.
double forward_flops(const model::ArchitectureSpec& a, int res, bool generator) {
  double f = 0;
  auto conv = [&](double cin, double cout, double k, double side) { f += 2 * cin * cout * k * k * side * side; };
  const double f4 = a.filters(4);
  if (generator) {
    f += 2.0 * a.latent_size * 16 * f4;
    conv(f4, f4, 3, 4);
    for (int r = 8; r <= res; r *= 2) {
      conv(a.filters(r / 2), a.filters(r), 3, r);
      conv(a.filters(r), a.filters(r), 3, r);
    }
    conv(a.filters(res), a.channels, 1, res);
  } else {
    conv(a.channels, a.filters(res), 1, res);
    for (int r = res; r >= 8; r /= 2) {
      conv(a.filters(r), a.filters(r), 3, r);
      conv(a.filters(r), a.filters(r / 2), 3, r);
    }
    conv(f4 + 1, f4, 3, 4);
    f += 2.0 * 16 * f4 * f4 + 2.0 * f4;
  }
  return f;
}
}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu", resolutions = "16,64";
  int batch = 16, steps = 20, latent = 128, max_filter = 128, reduction_size = 128, threads = 0;
  bool kernels = true, bf16 = false, channels_last = false;
  double peak_tflops = 989.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--device") device_name = v;
    else if (k == "--resolutions") resolutions = v;
    else if (k == "--batch") batch = std::stoi(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--latent") latent = std::stoi(v);
    else if (k == "--max-filter") max_filter = std::stoi(v);
    else if (k == "--reduction-size") reduction_size = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--kernels") kernels = v == "on";
    else if (k == "--bf16") bf16 = v == "on";
    else if (k == "--channels-last") channels_last = v == "on";
    else if (k == "--peak-tflops") peak_tflops = std::stod(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(threads);
  torch::Device device(device_name == "cuda" ? torch::kCUDA : torch::kCPU);
  ops::set_cuda_kernels_enabled(kernels);
  ops::set_host_kernels_enabled(kernels && device.is_cpu());
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  model::ArchitectureSpec arch;
  arch.latent_size = latent;
  arch.max_filter = max_filter;
  arch.filter_reduction_depth = model::log2_int(reduction_size) - 1;
  std::printf("deepzine train_step_bench: device %s, batch %d, latent %d, max_filter %d, reduction from %d, "
              "LibTorch %s, %d CPU threads, fused kernels %s%s, bf16 %s, channels-last %s\n",
              device_name.c_str(), batch, latent, max_filter, reduction_size, TORCH_VERSION,
              torch::get_num_threads(), kernels ? "on" : "off",
              kernels && device.is_cuda() && !ops::cuda_kernels_compiled() ? " (NOT in this build)" : "",
              bf16 ? "on" : "off", channels_last ? "on" : "off");
  std::printf("%6s %10s %12s %12s %14s %9s\n", "res", "ms/step", "images/s", "GFLOP/step", "GFLOP/s", "of peak");
  std::stringstream ss(resolutions);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const int res = std::stoi(item);
    torch::manual_seed(0);
    model::Generator g(arch, res), ema(arch, res);
    model::Discriminator d(arch, res);
    g->to(device);
    ema->to(device);
    d->to(device);
    train::Adam og(*g, {}), od(*d, {});
    train::TrainerOptions o;
    o.arch = arch;
    o.mixed_precision = bf16;
    o.channels_last = channels_last;
    train::TrainStep step(g, d, ema, og, od, o);
    auto reals = torch::rand({batch, 3, res, res}, torch::TensorOptions().device(device)) * 2 - 1;
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    for (int i = 0; i < 3; ++i) step.run(reals, res, 1.0);  // warm-up (allocator, cuDNN choice)
    sync();
    std::vector<double> times;
    for (int i = 0; i < steps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      step.run(reals, res, 1.0);
      sync();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    // D step: G forward, D forward on reals, fakes and blends, the penalty's gradient (~2 D forwards) and
    // a backward through all of it (~2x); G step: forward and backward of G and D (~3x each).
    const double gf = forward_flops(arch, res, true) * batch, df = forward_flops(arch, res, false) * batch;
    const double flops = (gf + 3 * df + 2 * df) + 2 * (3 * df + 2 * df) + 3 * (gf + df);
    std::printf("%6d %10.2f %12.1f %12.2f %14.1f %8.2f%%\n", res, median * 1e3, batch / median, flops / 1e9,
                flops / median / 1e9, 100.0 * flops / median / (peak_tflops * 1e12));
  }
  return 0;
}
