#pragma once
// PDF pages rendered with poppler's core API straight at the pixel size they are needed at (in the
// render worker processes of load_data). One PdfDocument per thread: documents are not shared.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace deepzine::pages {

enum class PageFit { kStretch, kPad, kCrop };
PageFit parse_page_fit(const std::string& name);  // stretch | pad | crop

// A square page, row-major HWC uint8 (RGB or grey).
struct PageImage {
  int size = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Largest side, in pixels, a page is ever rendered at before fitting: guards against absurd page
// sizes (a 200-inch poster) allocating gigabytes.
constexpr int kMaxRenderSide = 8192;

class PdfDocument {
 public:
  // Throws std::runtime_error naming the file when it cannot be read, is encrypted or has no pages.
  explicit PdfDocument(const std::filesystem::path& file);
  ~PdfDocument();
  PdfDocument(PdfDocument&&) noexcept;
  int page_count() const;
  // Renders page `index` (0-based) to a `size`×`size` square; throws std::runtime_error on failure.
  PageImage render(int index, int size, int channels, PageFit fit) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::filesystem::path file_;
};

// Area-averaged pyramid of a square page: sizes size/2, size/4, ..., 4 (OpenCV INTER_AREA).
std::vector<PageImage> downsample_pyramid(const PageImage& page);

// Fonts whose glyph cache this process has widened (page_device.cpp): 0 after text was drawn means the
// poppler it runs with has a cache this code does not know, and text renders at poppler's stock speed.
int64_t widened_glyph_caches();

// Images this process has not drawn because their transform stretches them over hundreds of pages
// (a damaged content stream that would keep poppler's Splash busy for minutes; page_device.h).
int64_t skipped_images();

// Routes poppler's own error messages, and the warnings of the JPEG decoder it uses (which poppler
// would leave to print raw on stderr), to the debug log when it is on, else has them skipped (once per
// process, at the first document: the log level set by then decides).
void quiet_poppler_errors();

}  // namespace deepzine::pages
