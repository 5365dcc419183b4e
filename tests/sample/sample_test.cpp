#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "support/shell.h"
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "deepzine/imageio/png.h"
#include "deepzine/model/checkpoint.h"
#include "deepzine/sample/latents.h"
#include "deepzine/sample/npy.h"
#include "deepzine/train/trainer.h"
#include "deepzine/video/movie.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;
using sample::Walk;

namespace {
using deepzine::testing_support::TempDir;  // tests/support/temp_dir.h
void expect_rows(const torch::Tensor& t, const std::vector<std::vector<float>>& rows) {
  ASSERT_EQ(t.size(0), static_cast<int64_t>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      EXPECT_NEAR(t[i][j].item<float>(), rows[i][j], 1e-5) << "row " << i << " col " << j;
    }
  }
}
struct CliRun {
  int status;
  std::string output;
};
CliRun deepzine_cli(const std::string& args) {
  auto r = deepzine::testing_support::shell(std::string(std::getenv("DEEPZINE_BINARY")) + " " + args);
  return CliRun{r.status, r.output};
}
}  // namespace

TEST(Walks, LinearAndToZeroAgainstHandComputedValues) {
  auto a = torch::tensor({0.0f, 0.0f}), b = torch::tensor({4.0f, 8.0f});
  expect_rows(sample::interpolate(a, b, 4, Walk::kLinear), {{0, 0}, {1, 2}, {2, 4}, {3, 6}});
  auto c = torch::tensor({2.0f, -2.0f});
  // tozero: frames/2 towards the origin, the rest from it (the original's two halves), 5 frames = 2 + 3.
  expect_rows(sample::interpolate(c, b, 5, Walk::kToZero), {{2, -2}, {1, -1}, {0, 0}, {4.0f / 3, 8.0f / 3}, {8.0f / 3, 16.0f / 3}});
}

TEST(Walks, SlerpAgainstHandComputedValuesAndIdenticalVectors) {
  auto a = torch::tensor({1.0f, 0.0f}), b = torch::tensor({0.0f, 2.0f});
  const float s = std::sin(M_PI / 4);  // t = 0.5 of a quarter turn: sin(pi/4)/sin(pi/2)
  expect_rows(sample::interpolate(a, b, 2, Walk::kSlerp), {{1, 0}, {s, 2 * s}});
  // Identical vectors repeat the second one (numpy.allclose in the original).
  auto same = sample::interpolate(b, b.clone(), 3, Walk::kSlerp);
  expect_rows(same, {{0, 2}, {0, 2}, {0, 2}});
  EXPECT_THROW(sample::parse_walk("spiral"), std::invalid_argument);
}

TEST(Walks, PathHasFramesBetweenEachPairEndpointExcluded) {
  auto keys = torch::randn({4, 6});
  auto path = sample::interpolation_path(keys, 7, Walk::kLinear);
  EXPECT_EQ(path.sizes(), (std::vector<int64_t>{3 * 7, 6}));
  EXPECT_TRUE(torch::allclose(path[7], keys[1]));
  EXPECT_TRUE(torch::allclose(path[0], keys[0]));
}

TEST(Npy, RoundTrip) {
  TempDir tmp("deepzine_sample");
  const fs::path dir = tmp.path();
  auto z = torch::randn({5, 3});
  sample::write_npy(dir / "z.npy", z);
  EXPECT_TRUE(torch::equal(sample::read_npy(dir / "z.npy"), z));
}

// numpy itself reads what deepzine writes and deepzine reads what numpy writes (float64 too).
TEST(Npy, NumpyReadsAndWritesTheSameFiles) {
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
    GTEST_SKIP() << "Debian's /usr/bin/python3 has no numpy (scripts/install_deps.sh installs python3-numpy)";
  }
  TempDir tmp("deepzine_sample");
  const fs::path dir = tmp.path();
  auto z = torch::randn({5, 3});
  sample::write_npy(dir / "z.npy", z);
  std::string cmd = "/usr/bin/python3 -c \"import numpy as np; a = np.load('" + (dir / "z.npy").string() +
                    "'); assert a.shape == (5, 3) and a.dtype == np.float32; np.save('" + (dir / "y.npy").string() +
                    "', (a * 2).astype(np.float64))\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_TRUE(torch::allclose(sample::read_npy(dir / "y.npy"), z * 2));
}

TEST(Npy, BadFilesAreClearErrors) {
  TempDir tmp("deepzine_sample");
  const fs::path dir = tmp.path();
  sample::write_npy(dir / "z.npy", torch::randn({4, 8}));
  std::ifstream in(dir / "z.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir / "cut.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 10);
  std::ofstream(dir / "text.npy") << "hello";
  // A header declaring (2^32, 2^32): the product must not overflow into a "valid" size.
  std::string huge = bytes;
  const size_t shape = huge.find("(4, 8)");
  ASSERT_NE(shape, std::string::npos);
  huge.replace(shape, 6, "(4294967296, 4294967296)");
  std::ofstream(dir / "huge.npy", std::ios::binary) << huge;
  ASSERT_EQ(::mkfifo((dir / "fifo.npy").c_str(), 0600), 0);
  for (const char* name : {"cut.npy", "text.npy", "missing.npy", "huge.npy", "fifo.npy"}) {
    try {
      sample::read_npy(dir / name);
      ADD_FAILURE() << name;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("Storage size"), std::string::npos) << e.what();
    }
  }
}

TEST(Movie, OpensWithOpenCvWithTheRightFrameCount) {
  TempDir tmp("deepzine_sample");
  const fs::path dir = tmp.path();
  std::vector<uint8_t> frame(32 * 32 * 3);
  video::MovieWriter w(dir / "walk", 32, 32, 10.0);
  for (int i = 0; i < 12; ++i) {
    std::fill(frame.begin(), frame.end(), static_cast<uint8_t>(i * 20));
    w.add_frame(frame.data(), 3);
  }
  fs::path out = w.close();
  EXPECT_TRUE(fs::exists(out));
  auto info = video::probe_movie(out);
  EXPECT_EQ(info.frames, 12);
  EXPECT_EQ(info.width, 32);
}

// A disk that fills while the movie is written (the file-size limit, SIGXFSZ ignored, in a child):
// OpenCV reports nothing, so close() reads the movie back and refuses it by name, leaving neither
// the movie nor its temporary file.
TEST(Movie, AMovieCutShortByAFullDiskIsRefusedAndRemoved) {
  TempDir tmp("deepzine_sample");
  const fs::path dir = tmp.path();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{16 * 1024, 16 * 1024};
    setrlimit(RLIMIT_FSIZE, &limit);
    std::vector<uint8_t> frame(64 * 64 * 3);
    uint32_t noise = 1;
    int status = 1;  // 1: close() did not refuse it
    try {
      video::MovieWriter w(dir / "walk", 64, 64, 10.0);
      for (int i = 0; i < 40; ++i) {
        for (auto& px : frame) px = static_cast<uint8_t>((noise = noise * 1664525u + 1013904223u) >> 24);
        w.add_frame(frame.data(), 3);
      }
      w.close();
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      status = what.find((dir / "walk").string()) != std::string::npos && what.find("of 40 frames") != std::string::npos &&
                       what.find("disk full?") != std::string::npos
                   ? 0
                   : 2;  // 2: refused without naming the movie and the cause
    }
    _exit(status);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(fs::is_empty(dir)) << "left behind: " << fs::directory_iterator(dir)->path();
}

// A tiny model checkpoint (random weights) for the stage tests.
class Stages : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    model::ArchitectureSpec a;
    a.latent_size = 8;
    a.max_filter = 8;
    model::Generator g(a, 8);
    model::Checkpoint c;
    c.meta.arch = a;
    c.meta.max_resolution = 8;
    c.meta.resolution = 8;
    c.G = c.G_ema = model::state_of(*g);
    model::save_checkpoint(dir_ / "models" / "8" / "checkpoint.pt", c);
    std::ofstream(dir_ / "c.yaml") << "inference: True\ninterpolation: True\nlatent_size: 8\ngan_output_size: 8\n"
                                      "max_filter: 8\nrandom_seed: 3\ninference_output_num: 10\ninference_batch_size: 4\n"
                                      "interpolation_vector_num: 3\ninterpolation_frames: 5\ndevice: cpu\n"
                                   << "inference_model_directory: " << (dir_ / "models").string() << "\n"
                                   << "inference_output_directory: " << (dir_ / "out").string() << "\n";
  }
  TempDir tmp_{"deepzine_sample_stages"};
  fs::path dir_;
};

TEST_F(Stages, InferenceAndInterpolationWriteImagesLatentsAndMovie) {
  // Temporaries a killed earlier run left are removed (pid 2^22 + 1: above Linux's pid_max, never alive).
  const std::vector<fs::path> stale = {dir_ / "out" / "inference_00001.png.tmp-4194305-4",
                                       dir_ / "out" / "interpolation.tmp-4194305.mp4"};
  fs::create_directories(dir_ / "out");
  for (const auto& file : stale) std::ofstream(file) << "cut short";
  CliRun r = deepzine_cli((dir_ / "c.yaml").string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const auto& file : stale) EXPECT_FALSE(fs::exists(file)) << file;
  for (int i = 0; i < 10; ++i) {
    auto img = imageio::read_png(dir_ / "out" / ("inference_0000" + std::to_string(i) + ".png"));
    EXPECT_EQ(img.height, 8);
  }
  EXPECT_FALSE(fs::exists(dir_ / "out" / "inference_00010.png"));
  EXPECT_EQ(sample::read_npy(dir_ / "out" / "inference_latents.npy").sizes(), (std::vector<int64_t>{10, 8}));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "inference_contact_sheet.png"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "interpolation_00009.png"));  // (3 - 1) * 5 frames
  EXPECT_FALSE(fs::exists(dir_ / "out" / "interpolation_00010.png"));
  fs::path movie = fs::exists(dir_ / "out" / "interpolation.mp4") ? dir_ / "out" / "interpolation.mp4"
                                                                   : dir_ / "out" / "interpolation.avi";
  EXPECT_EQ(video::probe_movie(movie).frames, 10);
  EXPECT_EQ(sample::read_npy(dir_ / "out" / "interpolation_latents.npy").size(0), 3);

  // Same seed, same pages; the saved latents regenerate them.
  auto first = imageio::read_png(dir_ / "out" / "inference_00004.png").pixels;
  fs::rename(dir_ / "out", dir_ / "out1");
  ASSERT_EQ(deepzine_cli((dir_ / "c.yaml").string() + " --only inference").status, 0);
  EXPECT_EQ(imageio::read_png(dir_ / "out" / "inference_00004.png").pixels, first);
  CliRun again = deepzine_cli((dir_ / "c.yaml").string() + " --only inference --set random_seed=99 --set inference_input_latent=" +
                           (dir_ / "out1" / "inference_latents.npy").string());
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(imageio::read_png(dir_ / "out" / "inference_00004.png").pixels, first);
}

TEST_F(Stages, MissingModelAndMismatchesAreClearErrors) {
  CliRun r = deepzine_cli((dir_ / "c.yaml").string() + " --set gan_output_size=16");
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.output.find("no model found; tried:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((dir_ / "models" / "16").string()), std::string::npos) << r.output;
  r = deepzine_cli((dir_ / "c.yaml").string() + " --set latent_size=16");
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.output.find("has latent size 8 but the config's latent_size is 16"), std::string::npos) << r.output;
  std::ofstream(dir_ / "bad.npy") << "garbage";
  r = deepzine_cli((dir_ / "c.yaml").string() + " --set inference_input_latent=" + (dir_ / "bad.npy").string());
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.output.find("bad.npy"), std::string::npos) << r.output;
  std::ofstream(dir_ / "models" / "8" / "checkpoint.pt", std::ios::trunc) << "truncated";
  r = deepzine_cli((dir_ / "c.yaml").string());
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.output.find("corrupt or truncated"), std::string::npos) << r.output;
}
