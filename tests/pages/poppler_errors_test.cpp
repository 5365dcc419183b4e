// poppler's own error messages: in the debug log when it is on; otherwise skipped by poppler before
// it formats them (a damaged PDF can give tens of thousands), and never printed to stderr. Each case
// runs in a forked child: the first document of a process decides, once.
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

bool opens(const fs::path& pdf) {
  try {
    deepzine::pages::PdfDocument document(pdf);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

}  // namespace

TEST(PopplerErrors, GoToTheDebugLogWhenItIsOn) {
  TempDir dir;
  const fs::path pdf = damaged_pdf(dir);
  EXPECT_EQ(in_child([&] {
              std::ostringstream log;
              spdlog::set_default_logger(std::make_shared<spdlog::logger>(
                  "test", std::make_shared<spdlog::sinks::ostream_sink_st>(log)));
              spdlog::set_level(spdlog::level::debug);
              if (opens(pdf)) return 1;
              spdlog::default_logger()->flush();
              return log.str().find("poppler: ") != std::string::npos ? 0 : 2;
            }),
            0)
      << "1: the damaged PDF opened; 2: no poppler message in the debug log";
}

TEST(PopplerErrors, AreNeitherFormattedNorPrintedOtherwise) {
  TempDir dir;
  const fs::path pdf = damaged_pdf(dir), stderr_copy = dir / "stderr.txt";
  EXPECT_EQ(in_child([&] {
              spdlog::set_level(spdlog::level::info);
              const int fd = ::open(stderr_copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
              if (fd < 0 || ::dup2(fd, 2) < 0) return 3;
              if (opens(pdf)) return 1;
              return fs::file_size(stderr_copy) == 0 ? 0 : 2;
            }),
            0)
      << "1: the damaged PDF opened; 2: poppler printed to stderr";
}
