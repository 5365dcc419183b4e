#pragma once
// The Splash output device pages are rendered through: poppler's, with two changes.
// - Each font's glyph cache is widened the first time the font draws (same pixels, fewer
//   rasterisations; page_device.cpp).
// - An image whose transform stretches it over more than kImageExtentPerPage page sides (a
//   damaged content stream: fuzz_pdf found a matrix entry of 2e33) is not drawn. Splash walks such
//   an image row by row outside the page: a 549-byte PDF took 31 s in pdftoppm at 10 dpi, and an
//   entry of 2e11 over 60 s.
#include <poppler/SplashOutputDev.h>

namespace deepzine::pages {

// No real page draws an image hundreds of pages wide; each side of a drawn image's box in device
// pixels is at most this many times the page's longer side.
constexpr double kImageExtentPerPage = 256.0;

class PageDevice : public SplashOutputDev {
public:
  using SplashOutputDev::SplashOutputDev;
  void drawChar(GfxState* state, double x, double y, double dx, double dy, double origin_x, double origin_y,
                CharCode code, int bytes, const Unicode* unicode, int unicode_length) override;
  void drawImageMask(GfxState* state, Object* ref, Stream* str, int width, int height, bool invert, bool interpolate,
                     bool inline_image) override;
  void drawImage(GfxState* state, Object* ref, Stream* str, int width, int height, GfxImageColorMap* color_map,
                 bool interpolate, const int* mask_colors, bool inline_image) override;
  void drawMaskedImage(GfxState* state, Object* ref, Stream* str, int width, int height, GfxImageColorMap* color_map,
                       bool interpolate, Stream* mask_str, int mask_width, int mask_height, bool mask_invert,
                       bool mask_interpolate) override;
  void drawSoftMaskedImage(GfxState* state, Object* ref, Stream* str, int width, int height,
                           GfxImageColorMap* color_map, bool interpolate, Stream* mask_str, int mask_width,
                           int mask_height, GfxImageColorMap* mask_color_map, bool mask_interpolate) override;

private:
  bool image_fits(GfxState* state);  // false: the image is skipped (counted, logged)
  SplashFont* widened_ = nullptr;     // the last font widened (widening twice is a no-op)
};

}  // namespace deepzine::pages
