// The page file's storage: grey pages stored once and shown as RGB by the data_<size> views, the run
// limit, and joining files (the resumable build's segments) with both kinds of page.
#include <gtest/gtest.h>
#include <unistd.h>

#include <H5Cpp.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "deepzine/pages/dataset_writer.h"
#include "support/shell.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine::pages;

namespace {

constexpr int kSize = 16;

// Page `i` at size s: grey pages have three equal channels, colour pages do not; every value is
// distinct enough per page that a mix-up of rows or channels shows.
PageImage page_image(int i, int s, bool grey) {
  PageImage img{s, 3, std::vector<uint8_t>(static_cast<size_t>(s * s * 3))};
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(y * s + x) * 3 + c] = static_cast<uint8_t>((i * 31 + y * 3 + x * 5 + s + (grey ? 0 : c * 11)) % 256);
  return img;
}

std::vector<PageImage> pyramid(int i, bool grey) {
  std::vector<PageImage> p;
  for (int s = kSize; s >= 4; s /= 2) p.push_back(page_image(i, s, grey));
  return p;
}

class PageFile : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_);
  }

  // Writes pages whose greyness is `grey[i]` (page numbers first, first+1, ...).
  fs::path write(const std::string& name, const std::vector<bool>& grey, PageLayout layout, int first = 0) {
    const fs::path file = dir_ / name;
    DatasetWriter w(file, layout);
    for (size_t i = 0; i < grey.size(); ++i) {
      w.append(pyramid(first + static_cast<int>(i), grey[i]), "p#" + std::to_string(first + i + 1));
    }
    w.close();
    return file;
  }
  static PageLayout layout(bool compact = true, int max_runs = 1024) {
    PageLayout l;
    l.max_size = kSize;
    l.compact_grey_pages = compact;
    l.max_runs = max_runs;
    return l;
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_page_file"};  // tests/support/temp_dir.h
  fs::path dir_;
};

std::vector<uint8_t> read_view(const fs::path& file, int size) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet(view_name(size));
  hsize_t d[4];
  EXPECT_EQ(ds.getSpace().getSimpleExtentNdims(), 4);
  ds.getSpace().getSimpleExtentDims(d);
  EXPECT_EQ(d[1], hsize_t(size));
  EXPECT_EQ(d[3], 3u);
  std::vector<uint8_t> out(d[0] * d[1] * d[2] * d[3]);
  ds.read(out.data(), H5::PredType::NATIVE_UINT8);
  return out;
}

std::vector<uint8_t> expected_view(const std::vector<bool>& grey, int size) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < grey.size(); ++i) {
    PageImage img = page_image(static_cast<int>(i), size, grey[i]);
    out.insert(out.end(), img.pixels.begin(), img.pixels.end());
  }
  return out;
}

std::vector<uint8_t> kinds(const fs::path& file) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet(kKindName);
  hsize_t n = 0;
  ds.getSpace().getSimpleExtentDims(&n);
  std::vector<uint8_t> k(n);
  if (n) ds.read(k.data(), H5::PredType::NATIVE_UINT8);
  return k;
}

hsize_t store_rows(const fs::path& file, int size, int channels) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  hsize_t d[4];
  f.openDataSet(store_name(size, channels)).getSpace().getSimpleExtentDims(d);
  return d[0];
}

hsize_t pixel_bytes(const fs::path& file) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  hsize_t bytes = 0;
  for (int s = kSize; s >= 4; s /= 2)
    for (int c : {1, 3}) bytes += f.openDataSet(store_name(s, c)).getStorageSize();
  return bytes;
}

}  // namespace

TEST_F(PageFile, GreyPagesAreStoredOnceAndEveryViewShowsThePagesAsWritten) {
  const std::vector<bool> grey = {true, true, false, true, false, false, true};
  const fs::path file = write("mixed.h5", grey, layout());
  EXPECT_EQ(kinds(file), (std::vector<uint8_t>{1, 1, 3, 1, 3, 3, 1}));
  for (int s = kSize; s >= 4; s /= 2) {
    EXPECT_EQ(store_rows(file, s, 1), 4u);
    EXPECT_EQ(store_rows(file, s, 3), 3u);
    EXPECT_EQ(read_view(file, s), expected_view(grey, s)) << "data_" << s;
  }
  const fs::path plain = write("plain.h5", grey, layout(false));
  EXPECT_EQ(kinds(plain), std::vector<uint8_t>(7, 3));
  EXPECT_EQ(store_rows(plain, kSize, 1), 0u);
  EXPECT_EQ(read_view(plain, kSize), read_view(file, kSize));
  // Pixel bytes (the views' own metadata, a few KiB per size, dominate files this small).
  EXPECT_LT(pixel_bytes(file), pixel_bytes(plain));
}

TEST_F(PageFile, PastTheRunLimitGreyPagesAreStoredAsRgb) {
  const std::vector<bool> grey = {true, false, true, false, true, false, true, true};
  const fs::path file = write("alternating.h5", grey, layout(true, 3));
  // Runs: grey, rgb, grey (3 runs); after that every page goes to the RGB store.
  EXPECT_EQ(kinds(file), (std::vector<uint8_t>{1, 3, 1, 3, 3, 3, 3, 3}));
  EXPECT_EQ(read_view(file, kSize), expected_view(grey, kSize));
  EXPECT_EQ(read_view(file, 4), expected_view(grey, 4));
}

TEST_F(PageFile, JoiningFilesKeepsEveryPageAndConvertsGreyPagesPastTheRunLimit) {
  const std::vector<bool> a = {true, false, true}, b = {false, true, true, false};
  const fs::path part_a = write("a.h5", a, layout()), part_b = write("b.h5", b, layout(), 3);
  std::vector<bool> all(a);
  all.insert(all.end(), b.begin(), b.end());
  for (int max_runs : {1024, 2}) {
    const fs::path joined = dir_ / ("joined" + std::to_string(max_runs) + ".h5");
    {
      DatasetWriter w(joined, layout(true, max_runs));
      w.append_file(part_a);
      w.append_file(part_b);
      EXPECT_EQ(w.pages(), 7);
      w.close();
    }
    for (int s = kSize; s >= 4; s /= 2) EXPECT_EQ(read_view(joined, s), expected_view(all, s)) << max_runs << " " << s;
    if (max_runs == 2) {  // the grey chunks past the limit were re-encoded as RGB
      EXPECT_EQ(kinds(joined), (std::vector<uint8_t>{1, 3, 3, 3, 3, 3, 3}));
    } else {
      EXPECT_EQ(kinds(joined), (std::vector<uint8_t>{1, 3, 1, 3, 1, 1, 3}));
    }
  }
}

TEST_F(PageFile, GreyOnlyFilesAndEmptyFilesHaveViewsToo) {
  PageLayout grey_layout = layout();
  grey_layout.channels = 1;
  const fs::path file = dir_ / "grey.h5";
  {
    DatasetWriter w(file, grey_layout);
    std::vector<PageImage> p;
    for (int s = kSize; s >= 4; s /= 2) p.push_back(PageImage{s, 1, std::vector<uint8_t>(s * s, uint8_t(s))});
    w.append(p, "g#1");
    w.append(p, "g#2");
    w.close();
  }
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  EXPECT_FALSE(f.nameExists(store_name(kSize, 3)));
  H5::DataSet view = f.openDataSet(view_name(8));
  hsize_t d[4];
  view.getSpace().getSimpleExtentDims(d);
  EXPECT_EQ(std::vector<hsize_t>(d, d + 4), (std::vector<hsize_t>{2, 8, 8, 1}));
  std::vector<uint8_t> px(2 * 8 * 8);
  view.read(px.data(), H5::PredType::NATIVE_UINT8);
  EXPECT_EQ(px, std::vector<uint8_t>(2 * 8 * 8, 8));

  const fs::path empty = write("empty.h5", {}, layout());
  EXPECT_EQ(read_page_count(empty), 0);
  EXPECT_TRUE(read_view(empty, kSize).empty());
}

// What h5py users see (the reason data_<size> is a view rather than a one-channel dataset): every
// level of a mixed file reads as uint8 [N, size, size, 3] equal, page by page, to the pixels written.
TEST_F(PageFile, H5pyReadsTheViewsAsRgbPages) {
  if (std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0) {
    GTEST_SKIP() << "Debian's python3-h5py is missing (scripts/install_deps.sh installs it)";
  }
  const std::vector<bool> grey = {true, false, true, true, false};
  const fs::path file = write("mixed.h5", grey, layout());
  for (int s = kSize; s >= 4; s /= 2) {
    const std::vector<uint8_t> want = expected_view(grey, s);
    std::string expected;
    for (uint8_t v : want) expected += std::to_string(v) + ",";
    const auto r = deepzine::testing_support::shell(
        "/usr/bin/python3 -c \"import h5py; d = h5py.File('" + file.string() + "', 'r')['data_" + std::to_string(s) +
        "']; print(d.dtype, d.shape); print(','.join(str(v) for v in d[...].ravel()) + ',')\"");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output, "uint8 (5, " + std::to_string(s) + ", " + std::to_string(s) + ", 3)\n" + expected + "\n") << s;
  }
}
