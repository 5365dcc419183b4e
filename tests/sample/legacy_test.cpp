// The original DeepZine's TensorFlow checkpoint ($DEEPZINE_FIXTURES/deepzine_tf_4x4: 14 tensors,
// latent 128, 128 filters, 4x4) through the V2 checkpoint reader and the legacy generator, checked
// against a forward pass written here independently: NHWC, HWIO weights as stored, convolutions as
// explicit per-tap matrix products (no conv2d).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "deepzine/model/legacy_generator.h"
#include "deepzine/sample/legacy_tf_loader.h"
#include "deepzine/sample/tf_checkpoint.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;

namespace {
fs::path fixture() { return fs::path(std::getenv("DEEPZINE_FIXTURES")) / "deepzine_tf_4x4"; }

using deepzine::testing_support::TempDir;  // tests/support/temp_dir.h

model::ArchitectureSpec fixture_arch() {
  model::ArchitectureSpec a;
  a.latent_size = 128;
  a.channels = 3;
  a.max_filter = 128;
  a.legacy_filters = true;
  return a;
}

torch::Tensor tf_tensor(const sample::TfCheckpoint& ck, const std::string& name) {
  auto v = ck.read_float(name);
  return torch::from_blob(v.data(), ck.entry(name).shape, torch::kFloat32).clone().to(torch::kFloat64);
}

torch::Tensor act_norm(torch::Tensor x) {  // NHWC: leaky ReLU 0.2, pixel norm over the last dim
  x = torch::where(x > 0, x, 0.2 * x);
  return x / torch::sqrt((x * x).mean(-1, true) + 1e-8);
}
}  // namespace

TEST(TfCheckpoint, ReadsAllTensorsOfTheOriginalCheckpoint) {
  sample::TfCheckpoint ck(fixture());
  EXPECT_EQ(ck.entries().size(), 14u);
  const auto& w = ck.entry("generator/gen_n_1_conv/w");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{4, 4, 128, 128}));
  EXPECT_EQ(ck.read_float("generator/gen_n_1_conv/w").size(), 4u * 4 * 128 * 128);
  // The same checkpoint by prefix and by index file.
  EXPECT_EQ(sample::TfCheckpoint(fixture() / "model.ckpt").entries().size(), 14u);
  EXPECT_EQ(sample::TfCheckpoint(fixture() / "model.ckpt.index").entries().size(), 14u);
  EXPECT_THROW(ck.read_float("generator/nope"), std::runtime_error);
}

TEST(TfCheckpoint, Crc32cKnownValue) {
  // RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa; "123456789" -> 0xe3069283.
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(sample::crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(sample::crc32c("123456789", 9), 0xe3069283u);
}

TEST(TfCheckpoint, CorruptOrTruncatedFilesAreErrorsNamingTheFile) {
  TempDir tmp;
  for (const char* f : {"model.ckpt.index", "model.ckpt.data-00000-of-00001"}) {
    fs::copy_file(fixture() / f, tmp.path() / f);
    fs::permissions(tmp.path() / f, fs::perms::owner_read | fs::perms::owner_write);
  }
  const fs::path data = tmp.path() / "model.ckpt.data-00000-of-00001";
  const auto& e = sample::TfCheckpoint(tmp.path()).entry("generator/gen_n_2_conv/w");
  {  // flip one byte inside a generator tensor
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(e.offset + 100);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(e.offset + 100);
    f.write(&c, 1);
  }
  try {
    sample::TfCheckpoint(tmp.path()).read_float("generator/gen_n_2_conv/w");
    FAIL() << "corrupt tensor accepted";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("crc32c"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find(data.string()), std::string::npos) << err.what();
  }
  fs::resize_file(data, e.offset + 10);  // truncated data shard
  EXPECT_THROW(sample::TfCheckpoint(tmp.path()).read_float("generator/gen_n_2_conv/w"), std::runtime_error);
  // Truncated or corrupt index, at every length and with each byte flipped in turn.
  std::ifstream in(fixture() / "model.ckpt.index", std::ios::binary);
  const std::string index((std::istreambuf_iterator<char>(in)), {});
  for (size_t n = 0; n < index.size(); n += 7) {
    std::ofstream(tmp.path() / "model.ckpt.index", std::ios::binary | std::ios::trunc).write(index.data(), n);
    EXPECT_THROW(sample::TfCheckpoint{tmp.path()}, std::runtime_error) << "truncated to " << n;
  }
  for (size_t i = 0; i < index.size() - 48; i += 3) {  // blocks are crc-checked; the footer is not
    std::string bad = index;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    std::ofstream(tmp.path() / "model.ckpt.index", std::ios::binary | std::ios::trunc).write(bad.data(), bad.size());
    EXPECT_THROW(sample::TfCheckpoint{tmp.path()}, std::runtime_error) << "byte " << i << " flipped";
  }
  EXPECT_THROW(sample::TfCheckpoint{tmp.path() / "missing"}, std::runtime_error);
}

// A FIFO or device in place of a shard is refused (not waited on); the state file's absolute path
// to elsewhere is not followed: the folder's own files are read.
TEST(TfCheckpoint, NonRegularShardsAndPathsOutsideTheFolder) {
  TempDir tmp;
  fs::copy_file(fixture() / "model.ckpt.index", tmp.path() / "model.ckpt.index");
  ASSERT_EQ(::mkfifo((tmp.path() / "model.ckpt.data-00000-of-00001").c_str(), 0600), 0);
  try {
    sample::TfCheckpoint(tmp.path()).read_float("generator/gen_n_2_conv/w");
    FAIL() << "a FIFO was read as a shard";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("is a FIFO, not a regular file"), std::string::npos) << err.what();
  }
  fs::remove(tmp.path() / "model.ckpt.data-00000-of-00001");
  fs::copy_file(fixture() / "model.ckpt.data-00000-of-00001", tmp.path() / "model.ckpt.data-00000-of-00001");
  std::ofstream(tmp.path() / "checkpoint") << "model_checkpoint_path: \"/somewhere/else/model.ckpt\"\n";
  EXPECT_EQ(sample::resolve_tf_checkpoint_prefix(tmp.path()), tmp.path() / "model.ckpt");
  EXPECT_NO_THROW(sample::TfCheckpoint(tmp.path()).read_float("generator/gen_n_2_conv/w"));
}

TEST(LegacyGenerator, MatchesAnIndependentForwardPass) {
  auto loaded = sample::load_legacy_generator(fixture(), fixture_arch(), torch::kCPU);
  ASSERT_EQ(loaded.resolution, 4);
  torch::manual_seed(3);
  const auto z = torch::randn({5, 128});
  torch::NoGradGuard no_grad;
  const auto out = loaded.generator->forward(z);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{5, 3, 4, 4}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  // A trained generator's pages lie roughly in [-1, 1] (tanh-free output, so allow some overshoot).
  EXPECT_LT(out.abs().max().item<float>(), 3.0f);
  EXPECT_GT(out.std().item<float>(), 1e-3f);

  sample::TfCheckpoint ck(fixture());
  const auto w1 = tf_tensor(ck, "generator/gen_n_1_conv/w"), b1 = tf_tensor(ck, "generator/gen_n_1_conv/biases");
  const auto w2 = tf_tensor(ck, "generator/gen_n_2_conv/w"), b2 = tf_tensor(ck, "generator/gen_n_2_conv/biases");
  const auto wr = tf_tensor(ck, "generator/gen_y_rgb_conv_4/w"), br = tf_tensor(ck, "generator/gen_y_rgb_conv_4/biases");
  const auto zd = z.to(torch::kFloat64);
  // z padded by 3 into a 7x7 map: output pixel (i, j) of the 4x4 VALID conv sees z only at tap (3-i, 3-j).
  auto x = torch::zeros({5, 4, 4, 128}, torch::kFloat64);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) x.select(1, i).select(1, j).copy_(zd.matmul(w1[3 - i][3 - j]) + b1);
  x = act_norm(x);
  // 3x3 SAME conv: sum over taps of the shifted input times that tap's [in, out] matrix.
  auto y = torch::zeros({5, 4, 4, 128}, torch::kFloat64);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      auto acc = b2.expand({5, 128}).clone();
      for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw) {
          const int si = i + kh - 1, sj = j + kw - 1;
          if (si < 0 || si >= 4 || sj < 0 || sj >= 4) continue;
          acc += x.select(1, si).select(1, sj).matmul(w2[kh][kw]);
        }
      y.select(1, i).select(1, j).copy_(acc);
    }
  y = act_norm(y);
  const auto rgb = y.matmul(wr[0][0]) + br;  // [5, 4, 4, 3], NHWC
  const auto ours = out.permute({0, 2, 3, 1}).to(torch::kFloat64);
  EXPECT_LT((ours - rgb).abs().max().item<double>(), 1e-4) << "max |diff|";
}

namespace {

// 3x3 SAME convolution of an NHWC map with HWIO weights, tap by tap (no conv2d).
torch::Tensor conv3x3_nhwc(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const int64_t h = x.size(1), wd = x.size(2);
  auto padded = torch::zeros({x.size(0), h + 2, wd + 2, x.size(3)}, x.options());
  padded.narrow(1, 1, h).narrow(2, 1, wd).copy_(x);
  auto out = b.expand({x.size(0), h, wd, b.size(0)}).clone();
  for (int kh = 0; kh < 3; ++kh)
    for (int kw = 0; kw < 3; ++kw) out += padded.narrow(1, kh, h).narrow(2, kw, wd).matmul(w[kh][kw]);
  return out;
}

// Nearest-neighbour 2x of an NHWC map by index: row y of the output is row y / 2 of the input.
torch::Tensor upsample_nhwc(const torch::Tensor& x) {
  auto rows = torch::arange(2 * x.size(1)).div(2, "floor");
  auto cols = torch::arange(2 * x.size(2)).div(2, "floor");
  return x.index_select(1, rows).index_select(2, cols);
}

}  // namespace

// Past 4x4 (the fixture's size): random TF-layout weights at 8x8 and 16x16, the generator against
// a forward pass written here from the original's layer list (4x4 VALID on the padded latent, then
// per doubling nearest 2x, conv, conv; toRGB 1x1), in float64.
TEST(LegacyGenerator, MatchesAnIndependentForwardPassAt8And16) {
  model::ArchitectureSpec arch;
  arch.latent_size = 8;
  arch.channels = 3;
  arch.max_filter = 8;
  arch.filter_reduction_depth = 3;  // halves from 16x16: the filter counts change between blocks
  arch.legacy_filters = true;
  for (int resolution : {8, 16}) {
    torch::manual_seed(resolution);
    model::LegacyGenerator g(model::LegacyGeneratorOptions{arch, resolution});
    std::vector<torch::Tensor> hwio, biases;  // per TF scope, as the checkpoint would hold them
    {
      torch::NoGradGuard no_grad;
      const auto params = g->tf_parameters();
      for (size_t i = 0; i < g->tf_scopes().size(); ++i) {
        auto w = params[2 * i];  // OIHW
        auto tf = torch::randn({w.size(2), w.size(3), w.size(1), w.size(0)}, torch::kFloat64) * 0.3;
        auto b = torch::randn({w.size(0)}, torch::kFloat64) * 0.1;
        w.copy_(tf.permute({3, 2, 0, 1}));
        params[2 * i + 1].copy_(b);
        hwio.push_back(tf);
        biases.push_back(b);
      }
    }
    const auto z = torch::randn({3, arch.latent_size});
    torch::NoGradGuard no_grad;
    const auto ours = g->forward(z).permute({0, 2, 3, 1}).to(torch::kFloat64);
    // The 4x4 VALID conv of the 7x7-padded latent: output (i, j) sees z at tap (3 - i, 3 - j).
    const auto zd = z.to(torch::kFloat64);
    auto x = torch::zeros({3, 4, 4, hwio[0].size(3)}, torch::kFloat64);
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) x.select(1, i).select(1, j).copy_(zd.matmul(hwio[0][3 - i][3 - j]) + biases[0]);
    x = act_norm(x);
    x = act_norm(conv3x3_nhwc(x, hwio[1], biases[1]));
    size_t layer = 2;
    for (int r = 8; r <= resolution; r *= 2) {
      x = act_norm(conv3x3_nhwc(upsample_nhwc(x), hwio[layer], biases[layer]));
      x = act_norm(conv3x3_nhwc(x, hwio[layer + 1], biases[layer + 1]));
      layer += 2;
    }
    const auto rgb = x.matmul(hwio[layer][0][0]) + biases[layer];
    ASSERT_EQ(ours.sizes(), rgb.sizes());
    EXPECT_LT((ours - rgb).abs().max().item<double>(), 1e-4) << resolution;
    EXPECT_GT(rgb.std().item<double>(), 1e-2);  // not a degenerate all-equal output
  }
}

TEST(LegacyGenerator, MismatchesAreErrorsNamingBothValues) {
  auto arch = fixture_arch();
  arch.latent_size = 64;
  try {
    sample::load_legacy_generator(fixture(), arch, torch::kCPU);
    FAIL() << "latent mismatch accepted";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("128"), std::string::npos) << m;
    EXPECT_NE(m.find("64"), std::string::npos) << m;
  }
  arch = fixture_arch();
  arch.max_filter = 64;
  try {
    sample::load_legacy_generator(fixture(), arch, torch::kCPU);
    FAIL() << "filter mismatch accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("max_filter 64"), std::string::npos) << e.what();
  }
}

TEST(LegacyGenerator, GrowsLikeTheOriginal) {
  // Untrained 16x16 legacy net: shapes and filter counts per the original's get_filter_num.
  auto a = fixture_arch();
  a.max_filter = 32;
  a.filter_reduction_depth = 2;  // 16 filters past the reduction point (pretrained_model: True)
  model::LegacyGenerator g(model::LegacyGeneratorOptions{a, 16});
  EXPECT_EQ(g->tf_scopes().back(), "gen_y_rgb_conv_16");
  EXPECT_EQ(g->tf_scopes().size(), 7u);
  for (auto& p : g->parameters()) torch::nn::init::normal_(p, 0, 0.1);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(g->forward(torch::randn({2, 128})).sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  EXPECT_EQ(g->tf_parameters()[2 * 6].size(1), a.filters(16));
}
