#include "page_device.h"

#include <poppler/GfxState.h>
#include <poppler/splash/SplashFont.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "deepzine/pages/renderer.h"

namespace deepzine::pages {
namespace {

// Splash sizes each font's glyph cache by the font's bounding box: 8 ways and 1 to 32 sets, so a
// 10 pt font rendered at 1024 gets 8 to 16 slots for its ~60 glyphs times up to 16 sub-pixel
// positions, and FreeType re-rasterises nearly every glyph it draws (21% of load_data's CPU at
// 1024). This widens each font's cache to ~1 MB (a power of two of sets, as Splash indexes them)
// the first time the font draws. A hit returns the very bitmap a miss would rasterise, so the pixels
// do not change (tests/pages: Renderer.WidenedGlyphCachesGiveTheStockPixelsAt1024 compares with
// poppler-cpp's stock caches at 1024); measured in docs/BENCHMARKS.md (issue 18).
// SplashFontCacheTag is private to SplashFont.cc; its layout, unchanged since xpdf 3, is repeated here.
struct GlyphCacheTag {
  int c;
  short x_frac, y_frac;
  int mru;  // valid bit (0x80000000) and MRU rank within the set
  int x, y, w, h;
};

constexpr long kGlyphCacheBytesPerFont = 1 << 20;
constexpr int kMaxGlyphCacheSets = 1024;
std::atomic<int64_t> widened_count{0};

// Reaches SplashFont's protected cache through pointers to members (legal for a derived class),
// never instantiated.
struct GlyphCacheWidener : SplashFont {
  static void widen(SplashFont& font) {
    int& sets = font.*(&GlyphCacheWidener::cacheSets);
    const int ways = font.*(&GlyphCacheWidener::cacheAssoc);
    const int glyph_bytes = font.*(&GlyphCacheWidener::glyphSize);
    unsigned char*& cache = font.*(&GlyphCacheWidener::cache);
    SplashFontCacheTag*& tags = font.*(&GlyphCacheWidener::cacheTags);
    if (ways != 8 || glyph_bytes <= 0 || !cache || !tags) return;  // not the cache this code knows
    int wanted = sets;
    while (wanted < kMaxGlyphCacheSets && 2L * wanted * ways * glyph_bytes <= kGlyphCacheBytesPerFont) wanted *= 2;
    if (wanted <= sets) return;
    auto* new_cache = static_cast<unsigned char*>(std::malloc(static_cast<size_t>(wanted) * ways * glyph_bytes));
    auto* new_tags = static_cast<GlyphCacheTag*>(std::calloc(static_cast<size_t>(wanted) * ways, sizeof(GlyphCacheTag)));
    if (!new_cache || !new_tags) {  // keep the small cache
      std::free(new_cache);
      std::free(new_tags);
      return;
    }
    for (int i = 0; i < wanted * ways; ++i) new_tags[i].mru = i & (ways - 1);
    std::free(cache);  // Splash allocates both with gmalloc (malloc) and frees them with gfree (free)
    std::free(tags);
    cache = new_cache;
    tags = reinterpret_cast<SplashFontCacheTag*>(new_tags);
    sets = wanted;
    widened_count.fetch_add(1, std::memory_order_relaxed);
  }
};

std::atomic<int64_t> skipped_count{0};

}  // namespace

int64_t widened_glyph_caches() { return widened_count.load(std::memory_order_relaxed); }
int64_t skipped_images() { return skipped_count.load(std::memory_order_relaxed); }

// Fonts are made lazily on the first glyph, so the check follows the base drawChar; one pointer
// compare per glyph after.
void PageDevice::drawChar(GfxState* state, double x, double y, double dx, double dy, double origin_x, double origin_y,
                          CharCode code, int bytes, const Unicode* unicode, int unicode_length) {
  SplashOutputDev::drawChar(state, x, y, dx, dy, origin_x, origin_y, code, bytes, unicode, unicode_length);
  SplashFont* font = getCurrentFont();
  if (font && font != widened_) {
    GlyphCacheWidener::widen(*font);
    widened_ = font;
  }
}

// An image fills the unit square mapped by the current transform (device pixels).
bool PageDevice::image_fits(GfxState* state) {
  const double* ctm = state->getCTM();
  const double box_width = std::abs(ctm[0]) + std::abs(ctm[2]), box_height = std::abs(ctm[1]) + std::abs(ctm[3]);
  const double limit = kImageExtentPerPage * std::max({getBitmapWidth(), getBitmapHeight(), 1});
  if (std::isfinite(box_width) && std::isfinite(box_height) && std::isfinite(ctm[4]) && std::isfinite(ctm[5]) &&
      box_width <= limit && box_height <= limit)
    return true;
  skipped_count.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("poppler: an image {:.3g} x {:.3g} pixels on a page of {} x {} is not drawn (a damaged transform)",
                box_width, box_height, getBitmapWidth(), getBitmapHeight());
  return false;
}

// A skipped image goes to OutputDev's defaults, which read past an inline image's data (the content
// stream goes on after it) and draw nothing.
void PageDevice::drawImageMask(GfxState* state, Object* ref, Stream* str, int width, int height, bool invert,
                               bool interpolate, bool inline_image) {
  if (image_fits(state)) {
    SplashOutputDev::drawImageMask(state, ref, str, width, height, invert, interpolate, inline_image);
  } else {
    OutputDev::drawImageMask(state, ref, str, width, height, invert, interpolate, inline_image);
  }
}

void PageDevice::drawImage(GfxState* state, Object* ref, Stream* str, int width, int height,
                           GfxImageColorMap* color_map, bool interpolate, const int* mask_colors, bool inline_image) {
  if (image_fits(state)) {
    SplashOutputDev::drawImage(state, ref, str, width, height, color_map, interpolate, mask_colors, inline_image);
  } else {
    OutputDev::drawImage(state, ref, str, width, height, color_map, interpolate, mask_colors, inline_image);
  }
}

// Masked images are never inline: a skipped one has nothing to read past.
void PageDevice::drawMaskedImage(GfxState* state, Object* ref, Stream* str, int width, int height,
                                 GfxImageColorMap* color_map, bool interpolate, Stream* mask_str, int mask_width,
                                 int mask_height, bool mask_invert, bool mask_interpolate) {
  if (!image_fits(state)) return;
  SplashOutputDev::drawMaskedImage(state, ref, str, width, height, color_map, interpolate, mask_str, mask_width,
                                   mask_height, mask_invert, mask_interpolate);
}

void PageDevice::drawSoftMaskedImage(GfxState* state, Object* ref, Stream* str, int width, int height,
                                     GfxImageColorMap* color_map, bool interpolate, Stream* mask_str, int mask_width,
                                     int mask_height, GfxImageColorMap* mask_color_map, bool mask_interpolate) {
  if (!image_fits(state)) return;
  SplashOutputDev::drawSoftMaskedImage(state, ref, str, width, height, color_map, interpolate, mask_str, mask_width,
                                       mask_height, mask_color_map, mask_interpolate);
}

}  // namespace deepzine::pages
