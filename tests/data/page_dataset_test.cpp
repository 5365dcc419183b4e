#include <gtest/gtest.h>
#include <unistd.h>

#include <H5Cpp.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>

#include "deepzine/data/page_dataset.h"
#include "deepzine/pages/build.h"
#include "deepzine/pages/dataset_writer.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;

namespace {
// One small real dataset (the R-data manual at 16x16) shared by the tests.
class Dataset : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_dir_ = std::make_unique<deepzine::testing_support::TempDir>("deepzine_data");  // tests/support/temp_dir.h
    dir_ = root_dir_->path();
    fs::create_directories(dir_ / "pdfs");
    fs::copy_file(fs::path(std::getenv("DEEPZINE_FIXTURES")) / "pdfs" / "R-data.pdf", dir_ / "pdfs" / "R-data.pdf");
    pages::BuildOptions o;
    o.pdf_directory = dir_ / "pdfs";
    o.output_file = dir_ / "pages.h5";
    o.max_size = 16;
    pages::build_dataset(o);
  }
  static void TearDownTestSuite() { root_dir_.reset(); }
  static data::PageDatasetOptions opts(int res, int batch, uint64_t seed) {
    data::PageDatasetOptions o;
    o.file = dir_ / "pages.h5";
    o.resolution = res;
    o.batch_size = batch;
    o.seed = seed;
    return o;
  }
  static std::unique_ptr<deepzine::testing_support::TempDir> root_dir_;
  static fs::path dir_;
};
std::unique_ptr<deepzine::testing_support::TempDir> Dataset::root_dir_;
fs::path Dataset::dir_;
}  // namespace

TEST_F(Dataset, BatchesAreNchwFloatsInRange) {
  data::PageDataset ds(opts(16, 8, 1));
  EXPECT_EQ(ds.size(), 41);
  EXPECT_EQ(ds.channels(), 3);
  EXPECT_EQ(ds.resolutions(), (std::vector<int>{4, 8, 16}));
  torch::Tensor b = ds.next_batch();
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{8, 3, 16, 16}));
  EXPECT_EQ(b.dtype(), torch::kFloat32);
  EXPECT_GE(b.min().item<float>(), -1.0f);
  EXPECT_LE(b.max().item<float>(), 1.0f);
  EXPECT_GT(b.mean().item<float>(), 0.3f);  // mostly white paper
  data::PageDataset small(opts(4, 2, 1));
  EXPECT_EQ(small.next_batch().sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
}

TEST_F(Dataset, SeedMakesTheOrderRepeatableAndEpochsReshuffle) {
  data::PageDataset a(opts(8, 5, 7)), b(opts(8, 5, 7)), c(opts(8, 5, 8));
  torch::Tensor a1 = a.next_batch(), b1 = b.next_batch(), c1 = c.next_batch();
  EXPECT_TRUE(torch::equal(a1, b1));
  EXPECT_FALSE(torch::equal(a1, c1));
  // 41 pages / 5 per batch: the 9th batch runs into the second epoch.
  for (int i = 0; i < 9; ++i) a.next_batch();
  EXPECT_GE(a.epoch(), 1);
}

TEST_F(Dataset, RanksReadDisjointShares) {
  // Each page of the 4x4 level is identified by its pixels; two ranks see no common page in an epoch.
  auto o0 = opts(16, 20, 3), o1 = opts(16, 20, 3);
  o0.world_size = o1.world_size = 2;
  o1.rank = 1;
  data::PageDataset r0(o0), r1(o1);
  torch::Tensor x0 = r0.next_batch(), x1 = r1.next_batch();
  std::set<std::vector<float>> seen;
  for (int i = 0; i < 20; ++i) {
    auto t = x0[i].contiguous();
    seen.insert(std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()));
  }
  int common = 0;
  for (int i = 0; i < 20; ++i) {
    auto t = x1[i].contiguous();
    common += seen.count(std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()));
  }
  EXPECT_LE(common, 1);  // identical-looking blank pages may exist; shares themselves are disjoint
}

TEST_F(Dataset, MissingResolutionNamesWhatExists) {
  try {
    data::PageDataset ds(opts(64, 2, 0));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("has no data_64 (it has 4, 8, 16)"), std::string::npos) << e.what();
  }
  auto o = opts(4, 2, 0);
  o.file = dir_ / "missing.h5";
  EXPECT_THROW(data::PageDataset ds(o), std::runtime_error);
}

TEST_F(Dataset, ReadsTheOriginalFloat32Layout) {
  // The original DeepZine (PyTables) stored float32 NHWC pages in [-1, 1].
  const fs::path file = dir_ / "original.h5";
  {
    H5::H5File f(file.string(), H5F_ACC_TRUNC);
    hsize_t dims[4] = {3, 4, 4, 3};
    H5::DataSet ds = f.createDataSet("data_4", H5::PredType::NATIVE_FLOAT, H5::DataSpace(4, dims));
    std::vector<float> values(3 * 4 * 4 * 3);
    for (size_t i = 0; i < values.size(); ++i) values[i] = -1.0f + 2.0f * static_cast<float>(i) / (values.size() - 1);
    ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
  }
  auto o = opts(4, 3, 0);
  o.file = file;
  data::PageDataset ds(o);
  torch::Tensor b = ds.next_batch();
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{3, 3, 4, 4}));
  EXPECT_NEAR(b.min().item<float>(), -1.0f, 1e-6);
  EXPECT_NEAR(b.max().item<float>(), 1.0f, 1e-6);
  // Value of page p, pixel (y, x), channel c is the NHWC element; check the layout conversion.
  torch::Tensor sorted = std::get<0>(b.select(1, 0).select(1, 0).select(1, 0).sort());  // channel 0 at (0,0)
  EXPECT_NEAR(sorted[0].item<float>(), -1.0f, 1e-6);
  EXPECT_NEAR(sorted[1].item<float>(), -1.0f + 2.0f * 48 / 143, 1e-5);
}

namespace {
// Page `page` of the fast-path tests: every third page is grey (three equal channels), the others are
// colour; channel 0 of pixel (0, 0) is page * 31 mod 256, which identifies the page in a batch.
bool grey_page(int page) { return page % 3 == 0; }
uint8_t value(int page, int y, int x, int ch) {
  return static_cast<uint8_t>((page * 31 + y * 3 + x * 5 + (grey_page(page) ? 0 : ch * 11)) % 256);
}

// Reads one epoch of `n` pages in batches of 6 and checks every pixel against value().
void expect_stored_pixels(const fs::path& file, int n, int size) {
  data::PageDatasetOptions o;
  o.file = file;
  o.resolution = size;
  o.batch_size = 6;
  o.seed = 3;
  data::PageDataset ds(o);
  std::set<int> seen;
  for (int b = 0; b < n / 6; ++b) {
    torch::Tensor t = ds.next_batch();
    auto a = t.accessor<float, 4>();
    for (int k = 0; k < 6; ++k) {
      const int page = static_cast<int>(std::lround((a[k][0][0][0] + 1.0f) * 127.5f)) * 223 % 256;  // 223 = 31^-1 mod 256
      ASSERT_LT(page, n);
      seen.insert(page);
      for (int ch = 0; ch < 3; ++ch)
        for (int y = 0; y < size; ++y)
          for (int x = 0; x < size; ++x)
            ASSERT_FLOAT_EQ(a[k][ch][y][x], value(page, y, x, ch) / 127.5f - 1.0f) << page << " " << ch << y << x;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n)) << "one epoch visits every page once";
}
}  // namespace

// The fast path (compressed chunks read raw from the grey and RGB stores, inflated and converted on
// all cores) returns exactly the stored pixels in NCHW as (x / 127.5) - 1, grey pages in all channels.
TEST(DatasetFastPath, InflatedPagesAreTheStoredPixels) {
  deepzine::testing_support::TempDir tmp("deepzine_fastpath");
  const fs::path file = tmp / "pages.h5";
  const int n = 24, size = 8, c = 3;
  {
    pages::PageLayout layout;
    layout.max_size = size;
    pages::DatasetWriter w(file, layout);
    for (int i = 0; i < n; ++i) {
      std::vector<pages::PageImage> pyramid;
      for (int s = size; s >= 4; s /= 2) {
        pages::PageImage img{s, c, std::vector<uint8_t>(static_cast<size_t>(s * s * c))};
        for (int y = 0; y < s; ++y)
          for (int x = 0; x < s; ++x)
            for (int ch = 0; ch < c; ++ch) img.pixels[(y * s + x) * c + ch] = value(i, y, x, ch);
        pyramid.push_back(std::move(img));
      }
      w.append(pyramid, "p#" + std::to_string(i + 1));
    }
    w.close();
  }
  EXPECT_EQ(pages::read_page_count(file), n);
  expect_stored_pixels(file, n, size);
  fs::remove(file);
}

// Files of format 1 (earlier builds: data_<size> is itself the chunked, deflated store, with byte
// shuffle) keep working through the same fast path.
TEST(DatasetFastPath, ReadsFormatOneFiles) {
  deepzine::testing_support::TempDir tmp("deepzine_format1");
  const fs::path file = tmp / "pages.h5";
  const int n = 12, size = 8;
  {
    H5::H5File f(file.string(), H5F_ACC_TRUNC);
    hsize_t dims[4] = {hsize_t(n), size, size, 3}, chunk[4] = {1, size, size, 3};
    H5::DSetCreatPropList props;
    props.setChunk(4, chunk);
    props.setShuffle();
    props.setDeflate(1);
    H5::DataSet ds = f.createDataSet("data_8", H5::PredType::NATIVE_UINT8, H5::DataSpace(4, dims), props);
    std::vector<uint8_t> px(static_cast<size_t>(n * size * size * 3));
    for (int i = 0; i < n; ++i)
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          for (int ch = 0; ch < 3; ++ch) px[((i * size + y) * size + x) * 3 + ch] = value(i, y, x, ch);
    ds.write(px.data(), H5::PredType::NATIVE_UINT8);
  }
  expect_stored_pixels(file, n, size);
  fs::remove(file);
}
