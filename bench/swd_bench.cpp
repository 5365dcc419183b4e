// Time of the sliced Wasserstein distance the trainer computes at each stage end (N images per side).
// Usage: swd_bench [--images 512] [--res 64]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "deepzine/train/swd.h"

int main(int argc, char** argv) {
  int images = 512, res = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--images") images = std::stoi(argv[i + 1]);
    else if (k == "--res") res = std::stoi(argv[i + 1]);
  }
  torch::manual_seed(0);
  auto a = torch::rand({images, 3, res, res}) * 2 - 1;
  auto b = (a + 0.3 * torch::randn_like(a)).clamp(-1, 1);
  auto t0 = std::chrono::steady_clock::now();
  auto swd = deepzine::train::sliced_wasserstein(a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("swd_bench: %d images of %dx%d per side: %.2f s; SWD x1e3 per level:", images, res, res, s);
  for (double v : swd) std::printf(" %.4f", v);
  std::printf("\n");
  return 0;
}
