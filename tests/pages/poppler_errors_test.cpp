// poppler's own error messages and those of the JPEG decoder it uses: in the debug log when it is on;
// otherwise skipped (poppler's before it formats them: a damaged PDF can give tens of thousands), and
// never printed to stderr. Each case runs in a forked child: the first document of a process decides.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "deepzine/pages/renderer.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using deepzine::testing_support::TempDir;

namespace {

// Exit status of `body` run in a child (its return value; 100 if it threw).
int in_child(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 100;
    try {
      code = body();
    } catch (...) {
    }
    _exit(code);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

fs::path damaged_pdf(const TempDir& dir) {
  return dir.write("damaged.pdf", "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\nthis is not a pdf at all\n");
}

// A sound PDF whose one page is a JPEG image with half its coded data cut out: libjpeg warns
// ("Corrupt JPEG data: premature end of data segment") and the page still renders.
fs::path pdf_with_damaged_jpeg(const TempDir& dir) {
  cv::Mat gradient(32, 32, CV_8UC1);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) gradient.at<uint8_t>(y, x) = static_cast<uint8_t>((x * 7 + y * 3) % 256);
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", gradient, jpeg);
  const size_t cut = jpeg.size() / 2;
  jpeg.erase(jpeg.begin() + static_cast<long>(cut), jpeg.end() - 2);  // keeps the end-of-image marker
  const std::string image(jpeg.begin(), jpeg.end());
  std::string pdf = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                    "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 64 64]/Resources<</XObject<</Im1 5 0 R>>>>"
                    "/Contents 4 0 R>>endobj\n"
                    "4 0 obj<</Length 28>>stream\nq 64 0 0 64 0 0 cm /Im1 Do Q\nendstream endobj\n"
                    "5 0 obj<</Type/XObject/Subtype/Image/Width 32/Height 32/ColorSpace/DeviceGray"
                    "/BitsPerComponent 8/Filter/DCTDecode/Length " + std::to_string(image.size()) + ">>stream\n" +
                    image + "\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
  return dir.write("damaged_jpeg.pdf", pdf);
}

bool opens(const fs::path& pdf) {
  try {
    deepzine::pages::PdfDocument document(pdf);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

bool renders(const fs::path& pdf) {
  deepzine::pages::PdfDocument document(pdf);
  return document.render(0, 32, 1, deepzine::pages::PageFit::kPad).pixels.size() == 32u * 32u;
}

}  // namespace

TEST(PopplerErrors, GoToTheDebugLogWhenItIsOn) {
  TempDir dir;
  const fs::path pdf = damaged_pdf(dir), jpeg_pdf = pdf_with_damaged_jpeg(dir);
  EXPECT_EQ(in_child([&] {
              std::ostringstream log;
              spdlog::set_default_logger(std::make_shared<spdlog::logger>(
                  "test", std::make_shared<spdlog::sinks::ostream_sink_st>(log)));
              spdlog::set_level(spdlog::level::debug);
              if (opens(pdf)) return 1;
              if (!renders(jpeg_pdf)) return 3;
              spdlog::default_logger()->flush();
              if (log.str().find("poppler: ") == std::string::npos) return 2;
              return log.str().find("libjpeg: Corrupt JPEG data") != std::string::npos ? 0 : 4;
            }),
            0)
      << "1: the damaged PDF opened; 2: no poppler message in the debug log; 3: the page with the damaged "
         "JPEG did not render; 4: no libjpeg message in the debug log";
}

TEST(PopplerErrors, AreNeitherFormattedNorPrintedOtherwise) {
  TempDir dir;
  const fs::path pdf = damaged_pdf(dir), jpeg_pdf = pdf_with_damaged_jpeg(dir), stderr_copy = dir / "stderr.txt";
  EXPECT_EQ(in_child([&] {
              spdlog::set_level(spdlog::level::info);
              const int fd = ::open(stderr_copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
              if (fd < 0 || ::dup2(fd, 2) < 0) return 3;
              if (opens(pdf)) return 1;
              if (!renders(jpeg_pdf)) return 3;
              return fs::file_size(stderr_copy) == 0 ? 0 : 2;
            }),
            0)
      << "1: the damaged PDF opened; 2: poppler or libjpeg printed to stderr; 3: the page with the "
         "damaged JPEG did not render";
}
