// Damaged PDFs that make poppler slow or large: refused by name before rendering.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "deepzine/pages/renderer.h"
#include "object_numbers.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using deepzine::testing_support::TempDir;

// Found by fuzz_pdf (session 12, a 30 s timeout): a 37 KB file naming object 21,048,431 made poppler
// size its cross-reference table to 21 million entries (600 MB) and scan it for every lookup (100 s
// for one page in pdftoppm). A PDF naming a larger object number than it has bytes is refused before
// poppler opens it.
TEST(HostilePdf, MoreObjectsThanBytesIsRefusedWhenOpened) {
  TempDir dir;
  const fs::path pdf = dir.write(
      "many_objects.pdf",
      "%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
      "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj 3000000 0 obj<<>>endobj\n"
      "trailer<</Root 1 0 R>>\n%%EOF\n");
  const auto start = std::chrono::steady_clock::now();
  try {
    deepzine::pages::PdfDocument document(pdf);
    FAIL() << "opened " << pdf << " (" << document.page_count() << " pages)";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "the PDF names object 3000000 in " + std::to_string(fs::file_size(pdf)) +
                                         " bytes (damaged)");
  }
  // Not a timing test: a bound far above the ~0.1 s it takes, to show the refusal comes before rendering.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

// The same file with its objects numbered sensibly opens and renders.
TEST(HostilePdf, ASmallFileWithFewObjectsOpens) {
  TempDir dir;
  const fs::path pdf = dir.write(
      "few_objects.pdf",
      "%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
      "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj 4 0 obj<<>>endobj\n"
      "trailer<</Root 1 0 R>>\n%%EOF\n");
  deepzine::pages::PdfDocument document(pdf);
  EXPECT_EQ(document.page_count(), 1);
  EXPECT_EQ(document.render(0, 32, 1, deepzine::pages::PageFit::kPad).pixels.size(), 32u * 32u);
}

TEST(HostilePdf, LargestObjectNumberReadsEveryHeaderAndNothingElse) {
  TempDir dir;
  using deepzine::pages::largest_object_number;
  EXPECT_EQ(largest_object_number(dir.write("a.pdf", "1 0 obj<<>>endobj\r\n12\n0\nobj [] endobj 7 0 obj")), 12);
  // "endobj", "3 obj", "x12 0 obj" and digits without a generation are not headers.
  EXPECT_EQ(largest_object_number(dir.write("b.pdf", "endobj 99 obj 55 0obj 4 0 obj x")), 4);
  EXPECT_EQ(largest_object_number(dir.write("c.pdf", "no headers here")), 0);
  EXPECT_EQ(largest_object_number(dir.write("d.pdf", "1234567890123456789012 0 obj")), INT64_MAX);
  // A header across the 1 MiB blocks the file is read in.
  std::string big((1 << 20) - 5, 'x');
  big += " 987654 0 obj";
  EXPECT_EQ(largest_object_number(dir.write("e.pdf", big)), 987654);
  EXPECT_EQ(largest_object_number(dir / "missing.pdf"), -1);
}
