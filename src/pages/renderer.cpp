#include "deepzine/pages/renderer.h"

#include "libjpeg_hooks.h"
#include "object_numbers.h"
#include "page_device.h"

// poppler's core API (libpoppler-private-dev), not poppler-cpp: poppler-cpp builds a new
// SplashOutputDev, and with it a new font engine and glyph cache, for every page it renders, which
// costs ~40% more CPU per page than rendering a document's pages through one device as pdftoppm
// does (docs/BENCHMARKS.md). The pixels are the same (tests/pages: PdfFolder.*Identical*).
#include <poppler/Error.h>
#include <poppler/GlobalParams.h>
#include <poppler/PDFDoc.h>
#include <poppler/XRef.h>
#include <poppler/SplashOutputDev.h>
#include <poppler/splash/SplashBitmap.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

namespace deepzine::pages {

PageFit parse_page_fit(const std::string& name) {
  if (name == "stretch") return PageFit::kStretch;
  if (name == "pad") return PageFit::kPad;
  if (name == "crop") return PageFit::kCrop;
  throw std::invalid_argument("page_fit '" + name + "' is not one of stretch, pad, crop");
}

void quiet_poppler_errors() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!globalParams) globalParams = std::make_unique<GlobalParams>();
    // poppler formats each message before handing it on, and a damaged PDF can give tens of
    // thousands (fuzz_pdf: 73,000 for one 10 KB file, 90% of its time): when the debug log would
    // drop them, poppler is told to skip them before formatting.
    const bool to_debug_log = spdlog::should_log(spdlog::level::debug);
    if (to_debug_log) {
      setErrorCallback([](ErrorCategory, Goffset, const char* msg) { spdlog::debug("poppler: {}", msg); });
    } else {
      setErrorCallback(nullptr);
      globalParams->setErrQuiet(true);
    }
    route_libjpeg_messages(to_debug_log);  // the messages of the JPEG decoder poppler uses
  });
}

struct PdfDocument::Impl {
  std::unique_ptr<PDFDoc> doc;
  // One output device per document and colour mode, so glyphs rasterised for one page are reused
  // by the next (as pdftoppm does).
  std::unique_ptr<SplashOutputDev> device;
  int device_channels = 0;

  SplashOutputDev& device_for(int channels) {
    if (!device || device_channels != channels) {
      SplashColor paper;
      paper[0] = paper[1] = paper[2] = 255;
      device = std::make_unique<PageDevice>(channels == 1 ? splashModeMono8 : splashModeRGB8, 4, false, paper);
      device->setFontAntialias(true);
      device->setVectorAntialias(true);
      device->setFreeTypeHinting(false, false);
      device->startDoc(doc.get());
      device_channels = channels;
    }
    return *device;
  }
};

PdfDocument::PdfDocument(const std::filesystem::path& file) : impl_(std::make_unique<Impl>()), file_(file) {
  quiet_poppler_errors();
  std::error_code ec;
  const int64_t bytes = static_cast<int64_t>(std::filesystem::file_size(file, ec));
  if (ec || bytes == 0) {
    throw std::runtime_error(ec ? "cannot read the file (" + ec.message() + ")" : "the file is empty");
  }
  // A damaged PDF's table is rebuilt from its "N G obj" headers, sized by the largest N: every object
  // takes bytes of the file, so a larger N than the file has bytes is damage, refused before poppler
  // allocates for it (object_numbers.h).
  const int64_t largest = largest_object_number(file);
  if (largest > bytes + 4096) {
    throw std::runtime_error("the PDF names object " + std::to_string(largest) + " in " + std::to_string(bytes) +
                             " bytes (damaged)");
  }
  impl_->doc = std::make_unique<PDFDoc>(std::make_unique<GooString>(file.string()));
  if (!impl_->doc->isOk()) {
    if (impl_->doc->getErrorCode() == errEncrypted) throw std::runtime_error("the PDF is encrypted (locked with a password)");
    throw std::runtime_error("not a readable PDF (corrupt or truncated)");
  }
  // The same bound on the table poppler built (a cross-reference stream can declare its size).
  const int64_t objects = impl_->doc->getXRef()->getNumObjects();
  if (objects > bytes + 4096) {
    throw std::runtime_error("the PDF names " + std::to_string(objects) + " objects in " + std::to_string(bytes) +
                             " bytes (damaged)");
  }
  if (impl_->doc->getNumPages() <= 0) throw std::runtime_error("the PDF has no pages");
}

PdfDocument::~PdfDocument() = default;
PdfDocument::PdfDocument(PdfDocument&&) noexcept = default;

int PdfDocument::page_count() const { return impl_->doc->getNumPages(); }

PageImage PdfDocument::render(int index, int size, int channels, PageFit fit) const {
  PDFDoc& doc = *impl_->doc;
  if (index < 0 || index >= doc.getNumPages()) throw std::runtime_error("page cannot be opened");
  const int page = index + 1;
  double w_pt = doc.getPageCropWidth(page), h_pt = doc.getPageCropHeight(page);
  const int rotate = ((doc.getPageRotate(page) % 360) + 360) % 360;
  if (rotate == 90 || rotate == 270) std::swap(w_pt, h_pt);
  if (!(w_pt > 0.5 && h_pt > 0.5) || !std::isfinite(w_pt) || !std::isfinite(h_pt)) {
    throw std::runtime_error("page has an invalid size (" + std::to_string(w_pt) + " x " + std::to_string(h_pt) +
                             " pt)");
  }
  // Pixels per point along x and y so that the page comes out at the size it is needed at.
  double sx, sy;
  if (fit == PageFit::kStretch) {
    sx = size / w_pt;
    sy = size / h_pt;
  } else {
    const double s = fit == PageFit::kPad ? size / std::max(w_pt, h_pt) : size / std::min(w_pt, h_pt);
    sx = sy = s;
  }
  // Clamp absurd pages (a poster, a 1:1000 strip) so no render allocates gigabytes.
  const double longest = std::max(w_pt * sx, h_pt * sy);
  if (longest > kMaxRenderSide) {
    sx *= kMaxRenderSide / longest;
    sy *= kMaxRenderSide / longest;
  }
  SplashOutputDev& device = impl_->device_for(channels);
  // Crop box, not printing, the page's own /Rotate applied: the settings of poppler-cpp's renderer.
  doc.displayPageSlice(&device, page, 72.0 * sx, 72.0 * sy, 0, false, true, false, -1, -1, -1, -1);
  SplashBitmap* bitmap = device.getBitmap();
  if (!bitmap || bitmap->getWidth() <= 0 || bitmap->getHeight() <= 0) throw std::runtime_error("rendering failed");
  // Rows of the bitmap are padded; the view below reads it in place.
  cv::Mat mat(bitmap->getHeight(), bitmap->getWidth(), channels == 1 ? CV_8UC1 : CV_8UC3, bitmap->getDataPtr(),
              static_cast<size_t>(bitmap->getRowSize()));

  cv::Mat square;
  if (fit == PageFit::kPad && mat.cols != mat.rows) {
    const int side = std::max(mat.cols, mat.rows);
    const int top = (side - mat.rows) / 2, left = (side - mat.cols) / 2;
    cv::copyMakeBorder(mat, square, top, side - mat.rows - top, left, side - mat.cols - left, cv::BORDER_CONSTANT,
                       cv::Scalar::all(255));
  } else if (fit == PageFit::kCrop && mat.cols != mat.rows) {
    const int side = std::min(mat.cols, mat.rows);
    square = mat(cv::Rect((mat.cols - side) / 2, (mat.rows - side) / 2, side, side));
  } else {
    square = mat;
  }
  if (square.cols != size || square.rows != size) {
    cv::Mat resized;
    // Off-by-one rounding of poppler, or a clamped page: bring it to the exact size.
    cv::resize(square, resized, cv::Size(size, size), 0, 0,
               square.cols > size ? cv::INTER_AREA : cv::INTER_LINEAR);
    square = resized;
  }
  PageImage out;
  out.size = size;
  out.channels = channels;
  out.pixels.resize(static_cast<size_t>(size) * size * channels);
  cv::Mat dst(size, size, channels == 1 ? CV_8UC1 : CV_8UC3, out.pixels.data());
  square.copyTo(dst);
  return out;
}

namespace {

// The pyramid as OpenCV's INTER_AREA resize from the full page would make it, without reading the
// full page once per level: exact integer sums of 2^j x 2^j blocks, each level's from the previous
// level's (1.33 passes in all instead of one per level; 3x faster at 1024), rounded as cv::resize
// rounds power-of-two area averages of uint8: (sum + 2) >> 2 for 2x2 blocks (its SIMD path) and
// sum / k^2 to nearest, ties to even, for larger ones (its float path). Tested pixel for pixel
// against cv::resize (tests/pages: Renderer.PyramidIsOpenCvAreaResizeOfTheFullPage).
uint8_t block_mean(uint32_t sum, int shift) {
  if (shift == 2) return static_cast<uint8_t>((sum + 2) >> 2);
  const uint32_t quotient = sum >> shift, rest = sum & ((1u << shift) - 1), half = 1u << (shift - 1);
  return static_cast<uint8_t>(quotient + ((rest > half || (rest == half && (quotient & 1))) ? 1 : 0));
}

template <class In>
void sum_blocks(const In* in, int side, int channels, std::vector<uint32_t>& out) {
  const int half = side / 2;
  const size_t row = static_cast<size_t>(side) * channels;
  out.resize(static_cast<size_t>(half) * half * channels);
  uint32_t* dst = out.data();
  for (int y = 0; y < half; ++y) {
    const In* top = in + 2 * y * row;
    const In* bottom = top + row;
    for (int x = 0; x < half; ++x, top += 2 * channels, bottom += 2 * channels) {
      for (int c = 0; c < channels; ++c) *dst++ = top[c] + top[c + channels] + bottom[c] + bottom[c + channels];
    }
  }
}

}  // namespace

std::vector<PageImage> downsample_pyramid(const PageImage& page) {
  std::vector<PageImage> levels;
  const int type = page.channels == 1 ? CV_8UC1 : CV_8UC3;
  cv::Mat full(page.size, page.size, type, const_cast<uint8_t*>(page.pixels.data()));
  std::vector<uint32_t> sums, coarser;
  int side = page.size, shift = 0;
  bool exact = true;  // every level so far halved an even side
  for (int s = page.size / 2; s >= 4; s /= 2) {
    PageImage level;
    level.size = s;
    level.channels = page.channels;
    level.pixels.resize(static_cast<size_t>(s) * s * page.channels);
    exact = exact && side % 2 == 0;
    if (!exact) {
      // A side that does not halve (a page size that is not a power of two): the general area
      // resize from the full page.
      cv::Mat dst(s, s, type, level.pixels.data());
      cv::resize(full, dst, cv::Size(s, s), 0, 0, cv::INTER_AREA);
    } else {
      if (shift == 0) {
        sum_blocks(page.pixels.data(), side, page.channels, sums);
      } else {
        sum_blocks(sums.data(), side, page.channels, coarser);
        sums.swap(coarser);
      }
      shift += 2;
      for (size_t i = 0; i < level.pixels.size(); ++i) level.pixels[i] = block_mean(sums[i], shift);
    }
    side = s;
    levels.push_back(std::move(level));
  }
  return levels;
}

}  // namespace deepzine::pages
