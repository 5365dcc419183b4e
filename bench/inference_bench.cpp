// Images/s of page generation: the (EMA) generator's forward without gradients, per resolution and
// batch size, the unit `deepzine` inference runs; bench/pggan_reference.py --inference times the same
// for PyTorch eager. Usage: inference_bench [--device cpu|cuda] [--resolutions 64,256]
//   [--batches 1,64] [--reps 5] [--latent 128] [--max-filter 128] [--reduction-size 64] [--threads N]
//   [--kernels on|off] [--bf16 on|off]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "deepzine/model/pggan.h"
#include "deepzine/ops/ops.h"
#include "deepzine/train/autocast.h"

using namespace deepzine;

namespace {
std::vector<int> ints(const std::string& list) {
  std::vector<int> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu", resolutions = "64,256", batches = "1,64";
  int reps = 5, latent = 128, max_filter = 128, reduction_size = 64, threads = 0;
  bool kernels = true, bf16 = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--device") device_name = v;
    else if (k == "--resolutions") resolutions = v;
    else if (k == "--batches") batches = v;
    else if (k == "--reps") reps = std::stoi(v);
    else if (k == "--latent") latent = std::stoi(v);
    else if (k == "--max-filter") max_filter = std::stoi(v);
    else if (k == "--reduction-size") reduction_size = std::stoi(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--kernels") kernels = v == "on";
    else if (k == "--bf16") bf16 = v == "on";
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads > 0) torch::set_num_threads(threads);
  torch::Device device(device_name == "cuda" ? torch::kCUDA : torch::kCPU);
  ops::set_cuda_kernels_enabled(kernels);
  model::ArchitectureSpec arch;
  arch.latent_size = latent;
  arch.max_filter = max_filter;
  arch.filter_reduction_depth = model::log2_int(reduction_size) - 1;
  std::printf("deepzine inference_bench: device %s, latent %d, max_filter %d, reduction from %d, LibTorch %s, "
              "%d CPU threads, fused kernels %s, bf16 %s, median of %d\n",
              device_name.c_str(), latent, max_filter, reduction_size, TORCH_VERSION, torch::get_num_threads(),
              kernels ? "on" : "off", bf16 ? "on" : "off", reps);
  std::printf("%6s %6s %10s %10s\n", "res", "batch", "ms/batch", "images/s");
  torch::NoGradGuard no_grad;
  for (int res : ints(resolutions)) {
    torch::manual_seed(0);
    model::Generator g(arch, res);
    g->to(device);
    g->eval();
    for (int batch : ints(batches)) {
      auto z = torch::randn({batch, latent}, torch::TensorOptions().device(device));
      auto sync = [&] {
        if (device.is_cuda()) torch::cuda::synchronize();
      };
      auto forward = [&] {
        train::Bf16Autocast autocast(bf16, device.type());
        g->forward(z, res, 1.0);
      };
      forward();  // warm-up
      sync();
      std::vector<double> t;
      for (int i = 0; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        forward();
        sync();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      std::sort(t.begin(), t.end());
      const double med = t[t.size() / 2];
      std::printf("%6d %6d %10.2f %10.1f\n", res, batch, med * 1e3, batch / med);
      std::fflush(stdout);
    }
  }
  return 0;
}
