// The original DeepZine's TensorFlow checkpoint through the command line: pretrained_model: True runs
// inference and interpolation on it, and --convert-tf writes it in this project's format, which
// then samples the same pages with pretrained_model: False.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/shell.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

class Pretrained : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_);
  }

  std::pair<int, std::string> run(const std::string& args) {
    auto r = deepzine::testing_support::shell("cd '" + dir_.string() + "' && '" + std::getenv("DEEPZINE_BINARY") +
                                              "' " + args);
    return {r.status, r.output};
  }
  // The original's keys for this model: latent 128, max_filter 128, 4x4.
  fs::path config(bool pretrained, const fs::path& model_dir, const std::string& out_name) {
    fs::path p = dir_ / (out_name + ".yaml");
    std::ofstream(p) << "load_data: False\ntrain: False\ninference: True\ninterpolation: True\n"
                     << "pretrained_model: " << (pretrained ? "True" : "False") << "\n"
                     << "inference_model_path: " << model_dir.string() << "\n"
                     << "inference_output_directory: " << (dir_ / out_name).string() << "\n"
                     << "gan_output_size: 4\nlatent_size: 128\nmax_filter: 128\nrandom_seed: 5\n"
                     << "inference_output_num: 6\ninference_batch_size: 4\n"
                     << "interpolation_vector_num: 3\ninterpolation_frames: 4\ninterpolation_method: slerp\n";
    return p;
  }
  static std::string bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_pretrained"};  // tests/support/temp_dir.h
  fs::path dir_;
};

const fs::path kTf = fs::path(std::getenv("DEEPZINE_FIXTURES") ? std::getenv("DEEPZINE_FIXTURES") : "") / "deepzine_tf_4x4";

}  // namespace

TEST_F(Pretrained, TensorFlowCheckpointSamplesAndConvertsToTheSameImages) {
  auto [rc, out] = run("'" + config(true, kTf, "tf").string() + "'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("original DeepZine checkpoint"), std::string::npos) << out;
  for (int i = 0; i < 6; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "inference_%05d.png", i);
    const std::string png = bytes(dir_ / "tf" / name);
    ASSERT_GT(png.size(), 8u) << name;
    EXPECT_EQ(png.substr(1, 3), "PNG") << name;
    // IHDR: width and height (big-endian) at bytes 16..23 are the model's 4x4.
    EXPECT_EQ(static_cast<unsigned char>(png[19]), 4);
    EXPECT_EQ(static_cast<unsigned char>(png[23]), 4);
  }
  EXPECT_FALSE(fs::exists(dir_ / "tf" / "inference_00006.png"));
  EXPECT_TRUE(fs::exists(dir_ / "tf" / "inference_latents.npy"));
  // (vector_num - 1) x frames frames
  EXPECT_TRUE(fs::exists(dir_ / "tf" / "interpolation_00007.png"));
  EXPECT_FALSE(fs::exists(dir_ / "tf" / "interpolation_00008.png"));

  auto [crc, cout_] = run("'" + config(true, kTf, "unused").string() + "' --convert-tf '" + (dir_ / "converted").string() + "'");
  ASSERT_EQ(crc, 0) << cout_;
  ASSERT_TRUE(fs::exists(dir_ / "converted" / "4" / "checkpoint.pt")) << cout_;
  EXPECT_FALSE(fs::exists(dir_ / "unused")) << "--convert-tf must only convert";

  auto [own_rc, own_out] = run("'" + config(false, dir_ / "converted" / "4", "own").string() + "'");
  ASSERT_EQ(own_rc, 0) << own_out;
  EXPECT_NE(own_out.find("converted from TensorFlow"), std::string::npos) << own_out;
  for (const char* f : {"inference_00000.png", "inference_00005.png", "interpolation_00003.png", "inference_latents.npy"})
    EXPECT_EQ(bytes(dir_ / "own" / f), bytes(dir_ / "tf" / f)) << f << " differs between the TF and converted model";
}

TEST_F(Pretrained, ConvertingAMissingCheckpointNamesIt) {
  auto [rc, out] = run("'" + config(true, dir_ / "nowhere", "x").string() + "' --convert-tf '" + (dir_ / "c").string() + "'");
  EXPECT_EQ(rc, 3) << out;
  EXPECT_NE(out.find("nowhere"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ / "c"));
}
