// The PDF page renderer (poppler): the first pages of any file render or give a runtime_error.
#include <cstdint>
#include <stdexcept>

#include "deepzine/pages/renderer.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (deepzine::pages::quiet_poppler_errors(), true);
  (void)quiet;
  const auto file = deepzine::fuzz::scratch_file("doc.pdf", data, size);
  try {
    deepzine::pages::PdfDocument document(file);
    for (int page = 0; page < std::min(document.page_count(), 2); ++page) {
      auto image = document.render(page, 32, 3, deepzine::pages::PageFit::kPad);
      if (image.pixels.size() != 32u * 32u * 3u) __builtin_trap();
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
