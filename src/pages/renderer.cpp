#include "deepzine/pages/renderer.h"

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include <algorithm>
#include <cmath>
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
    poppler::set_debug_error_function(
        [](const std::string& msg, void*) { spdlog::debug("poppler: {}", msg); }, nullptr);
  });
}

struct PdfDocument::Impl {
  std::unique_ptr<poppler::document> doc;
};

PdfDocument::PdfDocument(const std::filesystem::path& file) : impl_(std::make_unique<Impl>()), file_(file) {
  quiet_poppler_errors();
  std::error_code ec;
  if (std::filesystem::file_size(file, ec) == 0 || ec) {
    throw std::runtime_error(ec ? "cannot read the file (" + ec.message() + ")" : "the file is empty");
  }
  impl_->doc.reset(poppler::document::load_from_file(file.string()));
  if (!impl_->doc) throw std::runtime_error("not a readable PDF (corrupt or truncated)");
  if (impl_->doc->is_locked()) throw std::runtime_error("the PDF is encrypted (locked with a password)");
  if (impl_->doc->pages() <= 0) throw std::runtime_error("the PDF has no pages");
}

PdfDocument::~PdfDocument() = default;
PdfDocument::PdfDocument(PdfDocument&&) noexcept = default;

int PdfDocument::page_count() const { return impl_->doc->pages(); }

namespace {

// Copies a poppler image (rows padded to bytes_per_row) into a tight cv::Mat of `channels`.
cv::Mat to_mat(const poppler::image& img, int channels) {
  const int w = img.width(), h = img.height();
  const int type = img.format() == poppler::image::format_gray8 ? CV_8UC1
                   : img.format() == poppler::image::format_rgb24 ? CV_8UC3
                                                                  : CV_8UC4;
  cv::Mat wrapped(h, w, type, const_cast<char*>(img.const_data()), static_cast<size_t>(img.bytes_per_row()));
  cv::Mat out;
  if (type == CV_8UC4) {  // argb32: BGRA in memory
    cv::cvtColor(wrapped, out, channels == 1 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGRA2RGB);
  } else {
    out = wrapped.clone();
  }
  return out;
}

}  // namespace

PageImage PdfDocument::render(int index, int size, int channels, PageFit fit) const {
  std::unique_ptr<poppler::page> page(impl_->doc->create_page(index));
  if (!page) throw std::runtime_error("page cannot be opened");
  poppler::rectf box = page->page_rect(poppler::crop_box);
  double w_pt = box.width(), h_pt = box.height();
  const auto orient = page->orientation();
  if (orient == poppler::page::landscape || orient == poppler::page::seascape) std::swap(w_pt, h_pt);
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
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(channels == 1 ? poppler::image::format_gray8 : poppler::image::format_rgb24);
  poppler::image img = renderer.render_page(page.get(), 72.0 * sx, 72.0 * sy);
  if (!img.is_valid() || img.width() <= 0 || img.height() <= 0) throw std::runtime_error("rendering failed");
  cv::Mat mat = to_mat(img, channels);

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

std::vector<PageImage> downsample_pyramid(const PageImage& page) {
  std::vector<PageImage> levels;
  const int type = page.channels == 1 ? CV_8UC1 : CV_8UC3;
  cv::Mat full(page.size, page.size, type, const_cast<uint8_t*>(page.pixels.data()));
  for (int s = page.size / 2; s >= 4; s /= 2) {
    PageImage level;
    level.size = s;
    level.channels = page.channels;
    level.pixels.resize(static_cast<size_t>(s) * s * page.channels);
    cv::Mat dst(s, s, type, level.pixels.data());
    cv::resize(full, dst, cv::Size(s, s), 0, 0, cv::INTER_AREA);  // area averaging from the full page
    levels.push_back(std::move(level));
  }
  return levels;
}

}  // namespace deepzine::pages
