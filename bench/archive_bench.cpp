// Download throughput against the loopback Internet Archive look-alike with added latency per request:
// 200 files of ~300 KB, download_workers 1 against 8, in one run.
// Usage: archive_bench [files=200] [latency_ms=50] [kib=300]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include <spdlog/spdlog.h>

#include "deepzine/archive/downloader.h"
#include "fake_archive.h"

namespace fs = std::filesystem;
using namespace deepzine;

int main(int argc, char** argv) {
  const int files = argc > 1 ? std::stoi(argv[1]) : 200;
  const int latency = argc > 2 ? std::stoi(argv[2]) : 50;
  const int kib = argc > 3 ? std::stoi(argv[3]) : 300;
  spdlog::set_level(spdlog::level::warn);
  fake::FakeArchive server;
  server.set_page_size(100);
  std::mt19937 rng(1);
  for (int i = 0; i < files; ++i) {
    std::string bytes(static_cast<size_t>(kib) * 1024, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    server.add_item("item" + std::to_string(i), {{"book.pdf", bytes, ""}});
  }
  server.faults.latency_ms = latency;
  std::printf("archive_bench: %d files x %d KiB, %d ms added per request (search, metadata, redirect, data)\n", files,
              kib, latency);
  double base = 0;
  for (int workers : {1, 8}) {
    const fs::path dir = fs::temp_directory_path() / ("deepzine_archive_bench_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    archive::DownloadOptions o;
    o.base_url = server.base_url();
    o.collection = "bench";
    o.output_dir = dir;
    o.workers = workers;
    const auto t0 = std::chrono::steady_clock::now();
    auto s = archive::download_collection(o);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (workers == 1) base = secs;
    std::printf("download_workers %d: %lld files in %.2f s (%.1f MiB/s)%s\n", workers,
                static_cast<long long>(s.downloaded), secs, s.bytes / secs / (1 << 20),
                workers == 1 ? "" : (" -> " + std::to_string(base / secs).substr(0, 4) + "x").c_str());
    fs::remove_all(dir);
  }
  return 0;
}
