// Timing harness of the fused ops (llm.c dev/cuda style: each kernel has its reference, a correctness
// check, and a timing). For each op at training-sized shapes: forward + backward, and for D's ops
// also the gradient penalty's double backward, fused vs the ATen reference; median of --reps runs.
// Usage: ops_bench [--device cpu|cuda] [--reps 20] [--batch 16] [--dtype f32|bf16]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "deepzine/ops/fused.h"
#include "deepzine/ops/reference.h"

namespace ops = deepzine::ops;
using torch::Tensor;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

struct Case {
  std::string name;
  std::vector<std::vector<int64_t>> shapes;
  Fn fused, ref;
  bool second_order;  // used inside D: time the double backward too
};

// One pass: forward, and backward (with create_graph and a second backward when second_order).
void pass(const Fn& f, const std::vector<Tensor>& in, bool second_order) {
  Tensor out = f(in);
  auto g = torch::autograd::grad({out.to(torch::kFloat).square().sum()}, {in[0]}, {}, true, second_order);
  if (second_order) torch::autograd::grad({g[0].to(torch::kFloat).square().sum()}, {in[0]}, {}, false, false, true);
}

double median_ms(const Fn& f, const std::vector<Tensor>& in, bool second_order, int reps, bool cuda) {
  auto sync = [&] {
    if (cuda) torch::cuda::synchronize();
  };
  for (int i = 0; i < 3; ++i) pass(f, in, second_order);
  sync();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    pass(f, in, second_order);
    sync();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu", dtype_name = "f32";
  int reps = 20, batch = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--device") device_name = v;
    else if (k == "--reps") reps = std::stoi(v);
    else if (k == "--batch") batch = std::stoi(v);
    else if (k == "--dtype") dtype_name = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const bool cuda = device_name == "cuda";
  auto opts = torch::TensorOptions()
                  .device(cuda ? torch::kCUDA : torch::kCPU)
                  .dtype(dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat);
  const int64_t B = batch;
  std::vector<Case> cases = {
      {"bias_act lrelu [B,128,64,64]", {{B, 128, 64, 64}, {128}},
       [](auto& in) { return ops::fused::bias_act(in[0], in[1], 0.2, 1.0, false, 1e-8); },
       [](auto& in) { return ops::reference::bias_act(in[0], in[1], 0.2, 1.0, false, 1e-8); }, true},
      {"bias_act lrelu+pixnorm [B,128,64,64]", {{B, 128, 64, 64}, {128}},
       [](auto& in) { return ops::fused::bias_act(in[0], in[1], 0.2, 1.0, true, 1e-8); },
       [](auto& in) { return ops::reference::bias_act(in[0], in[1], 0.2, 1.0, true, 1e-8); }, false},
      {"minibatch_stddev [B,128,4,4]", {{B, 128, 4, 4}},
       [](auto& in) { return ops::fused::minibatch_stddev(in[0], 4, 1e-8); },
       [](auto& in) { return ops::reference::minibatch_stddev(in[0], 4, 1e-8); }, true},
      {"upsample_lerp [B,3,128,128]->256", {{B, 3, 128, 128}, {B, 3, 256, 256}},
       [](auto& in) { return ops::fused::upsample_lerp(in[0], in[1], 0.3); },
       [](auto& in) { return ops::reference::upsample_lerp(in[0], in[1], 0.3); }, false},
      {"downsample_lerp [B,64,128,128]->64", {{B, 64, 128, 128}, {B, 64, 64, 64}},
       [](auto& in) { return ops::fused::downsample_lerp(in[0], in[1], 0.6); },
       [](auto& in) { return ops::reference::downsample_lerp(in[0], in[1], 0.6); }, true},
  };
  std::printf("ops_bench: device %s, dtype %s, batch %d, LibTorch %s, %d CPU threads, median of %d\n",
              device_name.c_str(), dtype_name.c_str(), batch, TORCH_VERSION, torch::get_num_threads(), reps);
  std::printf("%-40s %12s %12s %8s %10s\n", "op (fwd+bwd, +2nd order in D)", "fused ms", "ATen ms", "speedup",
              "max |diff|");
  for (const auto& c : cases) {
    std::vector<Tensor> in;
    torch::manual_seed(0);
    for (const auto& s : c.shapes) in.push_back(torch::randn(s, opts).requires_grad_(true));
    const double diff = (c.fused(in) - c.ref(in)).abs().max().item<double>();  // the correctness check
    const double f = median_ms(c.fused, in, c.second_order, reps, cuda);
    const double r = median_ms(c.ref, in, c.second_order, reps, cuda);
    std::printf("%-40s %12.3f %12.3f %7.2fx %10.2e\n", c.name.c_str(), f, r, r / f, diff);
  }
  return 0;
}
