// How fast the HDF5 page reader (data::PageDataset: shuffled, background prefetch) delivers training
// batches, against how fast a training step consumes them. Usage:
//   reader_bench FILE [--resolutions 1024,256] [--batch 16] [--batches 40] [--step-ms 2791]
// --step-ms: the training step time to compare with (default: H100, 1024², batch 16, docs/BENCHMARKS.md).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "deepzine/data/page_dataset.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: reader_bench FILE [--resolutions 1024,256] [--batch 16] [--batches 40] [--step-ms 2791]\n");
    return 2;
  }
  std::string file = argv[1], resolutions = "1024,256";
  int batch = 16, batches = 40;
  double step_ms = 2791.0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--resolutions") resolutions = v;
    else if (k == "--batch") batch = std::stoi(v);
    else if (k == "--batches") batches = std::stoi(v);
    else if (k == "--step-ms") step_ms = std::stod(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  std::printf("reader_bench: %s, batch %d, %d batches after warm-up, %u hardware threads\n", file.c_str(), batch,
              batches, std::thread::hardware_concurrency());
  std::printf("%6s %10s %12s %10s %12s %14s\n", "res", "open ms", "ms/batch", "batches/s", "MB/s (float)", "x step rate");
  std::stringstream ss(resolutions);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const int res = std::stoi(item);
    deepzine::data::PageDatasetOptions o;
    o.file = file;
    o.resolution = res;
    o.batch_size = batch;
    o.seed = 1;
    const auto opening = std::chrono::steady_clock::now();
    deepzine::data::PageDataset reader(o);  // checks the file and locates the level's pages
    const double open_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - opening).count();
    for (int i = 0; i < 3; ++i) reader.next_batch();  // warm-up: prefetch thread running
    std::vector<double> t;
    int64_t bytes = 0;
    for (int i = 0; i < batches; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      torch::Tensor b = reader.next_batch();
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      bytes += b.numel() * b.element_size();
    }
    double total = 0;
    for (double x : t) total += x;
    std::sort(t.begin(), t.end());
    const double mean = total / batches;  // the sustained rate (prefetching hides single batches)
    std::printf("%6d %10.1f %12.2f %10.2f %12.1f %13.1fx\n", res, open_ms, mean, 1000.0 / mean, bytes / 1e6 / (total / 1000.0),
                step_ms / mean);
  }
  return 0;
}
