// Damaged PDFs that make poppler slow or large: refused by name before rendering.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <thread>
#include <vector>

#include "deepzine/pages/renderer.h"
#include "libjpeg_hooks.h"
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

namespace {

// Runs `check` (its exit code) in a child: a render that hangs fails the test after 60 s instead of
// hanging it. -1: the child was killed for the time, -2 - N: it died by signal N.
int exit_code_in_child(const std::function<int()>& check) {
  const pid_t child = fork();
  if (child < 0) return -100;
  if (child == 0) {
    deepzine::pages::quiet_poppler_errors();
    int code = 99;
    try {
      code = check();
    } catch (const std::exception&) {
      code = 98;
    }
    _exit(code);
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -2 - WTERMSIG(status);
}

// A one-page 200 x 200 pt PDF that draws a black 2 x 2 image through the matrix `image_matrix`,
// then a blue rectangle (20..80 x 20..50 pt): page 1 with a cross-reference table, as writers make it.
std::string pdf_drawing_an_image(const std::string& image_matrix, bool inline_image) {
  const std::string image = inline_image ? "BI /W 2 /H 2 /CS /RGB /BPC 8 ID\n" + std::string(12, '\0') + "\nEI"
                                         : "/Im1 Do";
  const std::string content = "q " + image_matrix + " cm " + image + " Q 0 0 1 rg 20 20 60 30 re f";
  const std::vector<std::string> objects = {
      "<</Type/Catalog/Pages 2 0 R>>", "<</Type/Pages/Kids[3 0 R]/Count 1>>",
      "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Resources<</XObject<</Im1 5 0 R>>>>/Contents 4 0 R>>",
      "<</Length " + std::to_string(content.size()) + ">>stream\n" + content + "\nendstream",
      "<</Type/XObject/Subtype/Image/Width 2/Height 2/ColorSpace/DeviceRGB/BitsPerComponent 8/Length 12>>stream\n" +
          std::string(12, '\0') + "\nendstream"};
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj" + objects[i] + "endobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t offset : offsets) {
    std::string number = std::to_string(offset);
    pdf += std::string(10 - number.size(), '0') + number + " 00000 n \n";
  }
  return pdf + "trailer<</Size " + std::to_string(objects.size() + 1) + "/Root 1 0 R>>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
}

}  // namespace

// Found by fuzz_pdf (session 14, a 60 s timeout): a 531-byte PDF whose JPEG image has a marker
// segment 55 KB long in a stream of 30 bytes. poppler 22's DCTStream skipped it forever (pdftoppm
// hangs too); the skip now ends at the stream's end and the image counts as damaged.
TEST(HostilePdf, AJpegSegmentPastItsStreamsEndIsADamagedImageNotAHang) {
  const fs::path pdf = fs::path(DEEPZINE_TEST_DATA_DIR) / "fuzz_jpeg_segment_past_stream_end.pdf";
  const int code = exit_code_in_child([&] {
    deepzine::pages::PdfDocument document(pdf);
    const auto page = document.render(0, 32, 3, deepzine::pages::PageFit::kPad);
    if (page.pixels.size() != 32u * 32u * 3u) return 3;
    return deepzine::pages::stopped_jpeg_skips() == 2 ? 0 : 4;  // the page draws the image twice
  });
  EXPECT_EQ(code, 0) << "-1: over 60 s (the skip past the stream's end is back), 3: wrong page size, "
                        "4: not two skips stopped, 98: an exception";
}

// Found by fuzz_pdf (session 14, slow units of 30-64 s): an image drawn through a matrix with an
// entry of 2e33 (or 2e11: over 60 s in pdftoppm). Splash walks the sheared image row by row far
// outside the page. An image whose box is more than 256 pages wide is not drawn; what the page
// draws after it is.
TEST(HostilePdf, AnImageStretchedOverThousandsOfPagesIsNotDrawnButThePageIs) {
  TempDir dir;
  for (bool inline_image : {false, true}) {
    const fs::path pdf = dir.write(inline_image ? "inline.pdf" : "xobject.pdf",
                                   pdf_drawing_an_image("2 200000000000 200 0 0 0", inline_image));
    const int code = exit_code_in_child([&] {
      deepzine::pages::PdfDocument document(pdf);
      const auto page = document.render(0, 40, 3, deepzine::pages::PageFit::kPad);
      // The rectangle: x 4..16, y 30..36 of 40 pixels (the page's y axis points up).
      const uint8_t* pixel = &page.pixels[(33u * 40u + 10u) * 3u];
      if (pixel[0] > 30 || pixel[1] > 30 || pixel[2] < 200) return 3;
      return deepzine::pages::skipped_images() == 1 ? 0 : 4;
    });
    EXPECT_EQ(code, 0) << pdf << ": -1: over 60 s, 3: the rectangle after the image is missing, 4: not one image "
                          "skipped, 98: an exception";
  }
}

// The fuzzer's input itself (a 549-byte file; its matrix has 7 numbers, poppler takes the last 6).
TEST(HostilePdf, TheFuzzFoundStretchedImageIsNotDrawn) {
  const fs::path pdf = fs::path(DEEPZINE_TEST_DATA_DIR) / "fuzz_image_matrix_2e33.pdf";
  const int code = exit_code_in_child([&] {
    deepzine::pages::PdfDocument document(pdf);
    if (document.render(0, 32, 3, deepzine::pages::PageFit::kPad).pixels.size() != 32u * 32u * 3u) return 3;
    return deepzine::pages::skipped_images() == 1 ? 0 : 4;
  });
  EXPECT_EQ(code, 0) << "-1: over 60 s, 3: wrong page size, 4: not one image skipped, 98: an exception";
}

// The same image at the size of the page is drawn: black where it lies, the rectangle over it.
TEST(HostilePdf, AnImageTheSizeOfThePageIsDrawn) {
  TempDir dir;
  for (bool inline_image : {false, true}) {
    const fs::path pdf =
        dir.write(inline_image ? "inline.pdf" : "xobject.pdf", pdf_drawing_an_image("200 0 0 100 0 100", inline_image));
    deepzine::pages::PdfDocument document(pdf);
    const int64_t skipped_before = deepzine::pages::skipped_images();
    const auto page = document.render(0, 40, 1, deepzine::pages::PageFit::kPad);
    EXPECT_EQ(page.pixels[5u * 40u + 20u], 0) << pdf << ": the image's upper half of the page is not black";
    EXPECT_EQ(page.pixels[25u * 40u + 30u], 255) << pdf << ": the lower half is not white";
    EXPECT_EQ(deepzine::pages::skipped_images(), skipped_before) << pdf;
  }
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
