#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>
#include <thread>

#include "deepzine/imageio/png.h"
#include "deepzine/util/atomic_file.h"
#include "deepzine/util/cpu.h"
#include "deepzine/util/log.h"
#include "deepzine/util/paths.h"
#include "support/temp_dir.h"
#include "deepzine/util/progress.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace fs = std::filesystem;
using namespace deepzine;

namespace {
// A fresh folder for one test (tests/support/temp_dir.h), kept until the test program exits.
fs::path temp_dir(const std::string& name) {
  static std::vector<std::unique_ptr<deepzine::testing_support::TempDir>> dirs;
  dirs.push_back(std::make_unique<deepzine::testing_support::TempDir>("deepzine_util_" + name));
  return dirs.back()->path();
}
std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST(AtomicFile, WritesCompleteFileAndLeavesNoTemporary) {
  auto dir = temp_dir("atomic");
  util::write_file_atomic(dir / "sub" / "a.txt", "hello");
  EXPECT_EQ(read_all(dir / "sub" / "a.txt"), "hello");
  util::write_file_atomic(dir / "sub" / "a.txt", "replaced");
  EXPECT_EQ(read_all(dir / "sub" / "a.txt"), "replaced");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir / "sub")) {
    ++files;
    EXPECT_FALSE(util::is_atomic_temp_name(e.path())) << e.path();
  }
  EXPECT_EQ(files, 1);
}

TEST(AtomicFile, UncommittedWriteKeepsOldContentAndRemovesTemporary) {
  auto dir = temp_dir("abort");
  util::write_file_atomic(dir / "b.txt", "old");
  fs::path temp;
  {
    util::AtomicFile f(dir / "b.txt");
    temp = f.temp_path();
    std::ofstream(temp) << "half";
    EXPECT_TRUE(util::is_atomic_temp_name(temp));
  }  // no commit: as if the writer threw
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(read_all(dir / "b.txt"), "old");
}

TEST(Log, ControlCharactersAreEscaped) {
  EXPECT_EQ(util::escape_control_characters("a\x1b[31mred\x7f\tb\nc\r"), "a\\x1b[31mred\\x7f\tb\nc\\x0d");
  EXPECT_EQ(util::escape_control_characters("caf\xc3\xa9.pdf"), "caf\xc3\xa9.pdf");  // UTF-8 stays
}

TEST(Paths, ExpandUser) {
  setenv("HOME", "/home/tester", 1);
  EXPECT_EQ(util::expand_user("~/models"), fs::path("/home/tester/models"));
  EXPECT_EQ(util::expand_user("~"), fs::path("/home/tester"));
  EXPECT_EQ(util::expand_user("./log"), fs::path("./log"));
  EXPECT_EQ(util::expand_user("~other/x"), fs::path("~other/x"));
}

TEST(Progress, FormatsSizesAndDurations) {
  EXPECT_EQ(util::human_bytes(512), "512 B");
  EXPECT_EQ(util::human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(util::human_bytes(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
  EXPECT_EQ(util::human_duration(65), "01:05");
  EXPECT_EQ(util::human_duration(3725), "1:02:05");
}

TEST(Progress, TerminalBarShowsPercentRateAndEta) {
  util::Progress::force_terminal(true);
  testing::internal::CaptureStderr();
  {
    util::Progress p("pages", 10, "page");
    for (int i = 0; i < 5; ++i) p.advance();
    p.finish();
    EXPECT_EQ(p.done(), 5);
  }
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("pages"), std::string::npos);
  EXPECT_NE(err.find("50%"), std::string::npos) << err;
  EXPECT_NE(err.find("page/s"), std::string::npos) << err;
  EXPECT_NE(err.find("ETA"), std::string::npos) << err;
}

// Work that fails part way (an exception unwinding through the bar) is logged as stopped, not done;
// work that ends normally is still done.
TEST(Progress, AnExceptionEndsTheBarAsStoppedNotDone) {
  util::Progress::force_terminal(false);
  for (const bool fail : {true, false}) {
    std::ostringstream log;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
    sink->set_pattern("%v");
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    try {
      util::Progress p("steps", 10, "step");
      p.advance(3);
      if (fail) throw std::runtime_error("disk full");
    } catch (const std::runtime_error&) {
    }
    spdlog::set_default_logger(previous);
    std::vector<std::string> lines;
    std::istringstream logged(log.str());
    for (std::string line; std::getline(logged, line);) lines.push_back(line);
    ASSERT_FALSE(lines.empty());
    EXPECT_NE(lines.back().find("steps 30%: 3 step/10 step"), std::string::npos) << lines.back();
    EXPECT_NE(lines.back().find(fail ? "(stopped)" : "(done)"), std::string::npos) << lines.back();
    EXPECT_EQ(lines.back().find(fail ? "(done)" : "(stopped)"), std::string::npos) << lines.back();
  }
}

// Temporaries of a killed run are removed; those of a live process (another run writing the same
// file), this process's own, and names that are not temporaries are kept.
TEST(AtomicFile, StaleTemporariesOfDeadProcessesAreRemovedOthersKept) {
  auto dir = temp_dir("stale_temps");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  const pid_t live = fork();
  if (live == 0) {
    pause();
    _exit(0);
  }
  const std::string d = std::to_string(dead), l = std::to_string(live), self = std::to_string(getpid());
  const std::vector<std::string> names = {"a.bin", "a.bin.tmp-" + d + "-0", "a.bin.tmp-" + l + "-0", "a.bin.tmp-" + self + "-3",
                                          "b.bin.tmp-" + d + "-7", "notes.tmp-" + d, "x.tmp-abc-1", "walk.tmp-" + d + ".mp4"};
  for (const auto& name : names) std::ofstream(dir / name) << "x";
  auto names_left = [&] {
    std::vector<std::string> left;
    for (const auto& entry : fs::directory_iterator(dir)) left.push_back(entry.path().filename().string());
    std::sort(left.begin(), left.end());
    return left;
  };
  EXPECT_EQ(util::remove_stale_temporaries(dir / "a.bin"), std::vector<fs::path>{dir / ("a.bin.tmp-" + d + "-0")});
  EXPECT_EQ(util::remove_stale_temporaries(dir / "walk"), std::vector<fs::path>{dir / ("walk.tmp-" + d + ".mp4")});
  EXPECT_EQ(util::remove_stale_temporaries_in(dir), std::vector<fs::path>{dir / ("b.bin.tmp-" + d + "-7")});
  std::vector<std::string> kept = {"a.bin", "a.bin.tmp-" + l + "-0", "a.bin.tmp-" + self + "-3", "notes.tmp-" + d, "x.tmp-abc-1"};
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(names_left(), kept);
  kill(live, SIGKILL);
  waitpid(live, nullptr, 0);
  // Now dead: its temporary goes too.
  EXPECT_EQ(util::remove_stale_temporaries_in(dir), std::vector<fs::path>{dir / ("a.bin.tmp-" + l + "-0")});
}

TEST(Png, RoundTripRgbAndGrey) {
  auto dir = temp_dir("png");
  imageio::Image rgb;
  rgb.height = 3;
  rgb.width = 5;
  rgb.channels = 3;
  for (int i = 0; i < 45; ++i) rgb.pixels.push_back(static_cast<uint8_t>(i * 5));
  imageio::write_png(dir / "rgb.png", rgb);
  auto back = imageio::read_png(dir / "rgb.png");
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, rgb.pixels);

  std::vector<uint8_t> grey = {0, 50, 100, 150, 200, 250};
  imageio::write_png(dir / "g.png", grey.data(), 2, 3, 1);
  auto g = imageio::read_png(dir / "g.png");
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.pixels, grey);
  EXPECT_THROW(imageio::read_png(dir / "missing.png"), std::runtime_error);
}

TEST(Png, TileGridPlacesImagesWithWhiteGaps) {
  // Two 2x2 grey images, values 10 and 20, in 2 columns with a 1-pixel gap.
  std::vector<uint8_t> imgs = {10, 10, 10, 10, 20, 20, 20, 20};
  auto grid = imageio::tile_grid(imgs.data(), 2, 2, 2, 1, 2, 1);
  ASSERT_EQ(grid.height, 4);
  ASSERT_EQ(grid.width, 7);
  auto at = [&](int y, int x) { return grid.pixels[y * grid.width + x]; };
  EXPECT_EQ(at(0, 0), 255);
  EXPECT_EQ(at(1, 1), 10);
  EXPECT_EQ(at(2, 2), 10);
  EXPECT_EQ(at(1, 3), 255);
  EXPECT_EQ(at(1, 4), 20);
  EXPECT_EQ(at(2, 5), 20);
}

#include <csignal>

#include "deepzine/util/interrupt.h"

TEST(Interrupt, FirstSignalSetsTheFlagWithoutKilling) {
  util::install_interrupt_handlers();
  util::clear_interrupted();
  EXPECT_FALSE(util::interrupted());
  testing::internal::CaptureStderr();
  std::raise(SIGTERM);
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(util::interrupted());
  EXPECT_NE(err.find("interrupt received"), std::string::npos);
  util::clear_interrupted();
}

TEST(Cpu, CgroupQuotaAndUsableCores) {
  const fs::path dir = temp_dir("cpu");
  auto quota = [&](const std::string& text) {
    std::ofstream(dir / "cpu.max") << text;
    return util::cgroup_quota_cores(dir / "cpu.max");
  };
  EXPECT_EQ(quota("max 100000\n"), 0);       // no quota
  EXPECT_EQ(quota("200000 100000\n"), 2);
  EXPECT_EQ(quota("350000 100000\n"), 3);    // whole cores
  EXPECT_EQ(quota("50000 100000\n"), 1);     // half a core still gets a thread
  EXPECT_EQ(quota("garbage\n"), 0);
  EXPECT_EQ(util::cgroup_quota_cores(dir / "absent"), 0);
  const int cores = util::usable_cores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}
