// Page chunks are plain zlib streams whatever library deflates them: HDF5's filter, h5py and the
// reader must inflate every chunk to exactly the page's bytes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "deepzine/pages/page_chunks.h"
#include "deepzine/pages/renderer.h"

using namespace deepzine::pages;

namespace {

std::vector<uint8_t> inflate_to(const std::vector<uint8_t>& packed, size_t size) {
  std::vector<uint8_t> out(size + 1);
  uLongf got = static_cast<uLongf>(out.size());
  EXPECT_EQ(uncompress(out.data(), &got, packed.data(), static_cast<uLong>(packed.size())), Z_OK);
  out.resize(got);
  return out;
}

void expect_round_trip(const std::vector<uint8_t>& bytes, const std::string& what) {
  const std::vector<uint8_t> packed = deflate_chunk(bytes.data(), bytes.size());
  ASSERT_GE(packed.size(), 2u) << what;
  EXPECT_EQ(packed[0] & 0x0f, 8) << what << ": not a zlib stream of deflate";
  EXPECT_EQ(inflate_to(packed, bytes.size()), bytes) << what;
}

}  // namespace

TEST(DeflateChunk, EveryKindOfPageInflatesToItsBytes) {
  const std::vector<uint8_t> white(1024 * 1024, 255);
  expect_round_trip(white, "a white 1024x1024 page");
  EXPECT_LT(deflate_chunk(white.data(), white.size()).size(), white.size() / 100) << "a white page barely shrinks";

  PdfDocument pdf(std::filesystem::path(std::getenv("DEEPZINE_FIXTURES")) / "pdfs" / "R-data.pdf");
  for (int channels : {1, 3}) {
    const PageImage page = pdf.render(0, 1024, channels, PageFit::kStretch);
    expect_round_trip(page.pixels, "a rendered page, channels " + std::to_string(channels));
    EXPECT_LT(deflate_chunk(page.pixels.data(), page.pixels.size()).size(), page.pixels.size() / 4);
  }

  std::mt19937 rng(5);
  std::vector<uint8_t> noise(3 * 512 * 512);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  expect_round_trip(noise, "incompressible bytes");
  expect_round_trip(std::vector<uint8_t>(4 * 4 * 3, 7), "a 4x4 level");
}

// The speed of load_data at 1024 rests on ISA-L (docs/BENCHMARKS.md): a build that has it uses it.
TEST(DeflateChunk, UsesTheFastestLibraryTheBuildHas) {
#ifdef DEEPZINE_TEST_EXPECT_ISAL
  EXPECT_STREQ(deflate_library(), "isa-l");
#else
  EXPECT_STRNE(deflate_library(), "isa-l");
#endif
}
