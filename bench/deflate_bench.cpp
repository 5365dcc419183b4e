// Deflating page chunks: the library load_data uses (pages::deflate_chunk) against libdeflate and zlib
// at the levels worth trying, on real pages rendered from a folder of PDFs, one core. Every output is
// checked to inflate (zlib) to the page it came from. Usage:
//   deflate_bench PDF_DIR [--size 1024] [--pages 120]
#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "deepzine/pages/page_chunks.h"
#include "deepzine/pages/renderer.h"

namespace fs = std::filesystem;
using Deflate = std::function<std::vector<uint8_t>(const std::vector<uint8_t>&)>;

namespace {

// The pages, grey ones as one plane (what load_data deflates), up to `limit` of them.
std::vector<std::vector<uint8_t>> render_pages(const fs::path& dir, int size, size_t limit) {
  std::vector<fs::path> pdfs;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".pdf") pdfs.push_back(entry.path());
  }
  std::sort(pdfs.begin(), pdfs.end());
  std::vector<std::vector<uint8_t>> pages;
  for (const fs::path& file : pdfs) {
    try {
      deepzine::pages::PdfDocument pdf(file);
      for (int p = 0; p < pdf.page_count() && pages.size() < limit; ++p) {
        deepzine::pages::PageImage page = pdf.render(p, size, 3, deepzine::pages::PageFit::kStretch);
        bool grey = true;
        for (size_t i = 0; grey && i < page.pixels.size(); i += 3) grey = page.pixels[i] == page.pixels[i + 1] && page.pixels[i] == page.pixels[i + 2];
        if (grey) {
          std::vector<uint8_t> plane(page.pixels.size() / 3);
          for (size_t i = 0; i < plane.size(); ++i) plane[i] = page.pixels[3 * i];
          page.pixels = std::move(plane);
        }
        pages.push_back(std::move(page.pixels));
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "skipping %s: %s\n", file.c_str(), e.what());
    }
    if (pages.size() >= limit) break;
  }
  return pages;
}

// As load_data used it: one compressor and one output buffer, reused (neither is timed per page).
Deflate with_libdeflate(int level) {
  auto compressor = std::shared_ptr<libdeflate_compressor>(libdeflate_alloc_compressor(level), libdeflate_free_compressor);
  auto scratch = std::make_shared<std::vector<uint8_t>>();
  return [compressor, scratch](const std::vector<uint8_t>& in) {
    const size_t bound = libdeflate_zlib_compress_bound(compressor.get(), in.size());
    if (scratch->size() < bound) scratch->resize(bound);
    const size_t written = libdeflate_zlib_compress(compressor.get(), in.data(), in.size(), scratch->data(), bound);
    return std::vector<uint8_t>(scratch->begin(), scratch->begin() + static_cast<std::ptrdiff_t>(written));
  };
}

Deflate with_zlib(int level) {
  auto scratch = std::make_shared<std::vector<uint8_t>>();
  return [level, scratch](const std::vector<uint8_t>& in) {
    uLongf size = compressBound(static_cast<uLong>(in.size()));
    if (scratch->size() < size) scratch->resize(size);
    compress2(scratch->data(), &size, in.data(), static_cast<uLong>(in.size()), level);
    return std::vector<uint8_t>(scratch->begin(), scratch->begin() + static_cast<std::ptrdiff_t>(size));
  };
}

// Best of three rounds over the pages, then one check that every output inflates to its page.
void measure(const std::string& name, const Deflate& deflate, const std::vector<std::vector<uint8_t>>& pages) {
  if (pages.empty()) return;
  size_t bytes = 0;
  double best_ms = 1e300;
  for (int round = 0; round < 3; ++round) {
    bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& page : pages) bytes += deflate(page).size();
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  size_t wrong = 0;
  for (const auto& page : pages) {
    const std::vector<uint8_t> packed = deflate(page);
    std::vector<uint8_t> back(page.size());
    uLongf got = static_cast<uLongf>(back.size());
    if (uncompress(back.data(), &got, packed.data(), static_cast<uLong>(packed.size())) != Z_OK || back != page) ++wrong;
  }
  std::printf("  %-24s %7.2f ms/page %8.1f KB/page%s\n", name.c_str(), best_ms / pages.size(),
              bytes / 1024.0 / pages.size(), wrong ? (" " + std::to_string(wrong) + " DO NOT INFLATE").c_str() : "");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: deflate_bench PDF_DIR [--size 1024] [--pages 120]\n");
    return 2;
  }
  int size = 1024;
  size_t limit = 120;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size")) size = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--pages")) limit = std::stoul(argv[i + 1]);
  }
  const auto pages = render_pages(argv[1], size, limit);
  std::vector<std::vector<uint8_t>> grey, colour;
  for (const auto& page : pages) (page.size() == static_cast<size_t>(size) * size ? grey : colour).push_back(page);
  const Deflate load_data = [](const std::vector<uint8_t>& in) { return deepzine::pages::deflate_chunk(in.data(), in.size()); };
  for (const auto& [kind, set] : {std::pair{"grey (one plane)", &grey}, std::pair{"colour", &colour}}) {
    std::printf("%zu %s pages at %d, one core, best of 3 rounds:\n", set->size(), kind, size);
    measure(std::string("load_data (") + deepzine::pages::deflate_library() + ")", load_data, *set);
    measure("libdeflate level 1", with_libdeflate(1), *set);
    measure("libdeflate level 2", with_libdeflate(2), *set);
    measure("zlib level 1", with_zlib(1), *set);
  }
}
