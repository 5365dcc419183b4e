#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#ifdef DEEPZINE_HAVE_POPPLER_CPP
#include <poppler-document.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>
#endif
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <H5Cpp.h>

#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "deepzine/pages/build.h"
#include "deepzine/pages/page_chunks.h"
#include "deepzine/pages/dataset_writer.h"
#include "deepzine/pages/renderer.h"
#include "deepzine/util/atomic_file.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine::pages;

namespace {
fs::path fixtures() { return fs::path(std::getenv("DEEPZINE_FIXTURES")); }

// A folder of PDFs: the three real fixtures (two typeset, one scanned) plus a broken, a truncated and
// an empty file.
class PdfFolder : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_ / "pdfs" / "item1");
    fs::copy_file(fixtures() / "pdfs" / "R-FAQ.pdf", dir_ / "pdfs" / "item1" / "R-FAQ.pdf");
    fs::copy_file(fixtures() / "pdfs" / "R-data.pdf", dir_ / "pdfs" / "R-data.pdf");
    fs::copy_file(fixtures() / "pdfs" / "scanned-R-FAQ-p3-8.pdf", dir_ / "pdfs" / "scanned.pdf");
    std::ofstream(dir_ / "pdfs" / "broken.pdf") << "%PDF-1.4\nthis is not a pdf at all\n";
    std::ofstream(dir_ / "pdfs" / "empty.pdf");
    std::ifstream in(fixtures() / "pdfs" / "R-data.pdf", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir_ / "pdfs" / "truncated.pdf", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  BuildOptions options(int size = 32) {
    BuildOptions o;
    o.pdf_directory = dir_ / "pdfs";
    o.output_file = dir_ / "out" / "pages.h5";
    o.max_size = size;
    o.workers = 2;
    return o;
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_pages"};  // tests/support/temp_dir.h
  fs::path dir_;
};

std::vector<hsize_t> dims_of(const H5::DataSet& ds) {
  H5::DataSpace s = ds.getSpace();
  std::vector<hsize_t> d(s.getSimpleExtentNdims());
  s.getSimpleExtentDims(d.data());
  return d;
}

std::vector<std::string> names_of(const fs::path& file) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet("imagenames");
  auto n = dims_of(ds)[0];
  std::vector<char*> raw(n);
  H5::StrType vlen(H5::PredType::C_S1, H5T_VARIABLE);
  vlen.setCset(H5T_CSET_UTF8);
  ds.read(raw.data(), vlen);
  std::vector<std::string> out(raw.begin(), raw.end());
  H5::DataSet::vlenReclaim(raw.data(), vlen, ds.getSpace());
  return out;
}

std::vector<uint8_t> read_all(const fs::path& file, int size) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet("data_" + std::to_string(size));
  auto d = dims_of(ds);
  std::vector<uint8_t> out(d[0] * d[1] * d[2] * d[3]);
  ds.read(out.data(), H5::PredType::NATIVE_UINT8);
  return out;
}
}  // namespace

TEST_F(PdfFolder, BuildsEveryResolutionAndSkipsBadFiles) {
  BuildSummary s = build_dataset(options(32));
  EXPECT_EQ(s.files, 6);
  EXPECT_EQ(s.files_skipped, 3);  // broken, empty, truncated
  EXPECT_EQ(s.pages, 52 + 41 + 6);
  EXPECT_EQ(s.pages_failed, 0);
  std::string problems;
  for (auto& p : s.problems) problems += p + "\n";
  EXPECT_NE(problems.find("broken.pdf"), std::string::npos) << problems;
  EXPECT_NE(problems.find("empty.pdf: the file is empty"), std::string::npos) << problems;
  EXPECT_NE(problems.find("truncated.pdf"), std::string::npos) << problems;

  const fs::path out = dir_ / "out" / "pages.h5";
  H5::H5File f(out.string(), H5F_ACC_RDONLY);
  for (int size : {4, 8, 16, 32}) {
    H5::DataSet ds = f.openDataSet("data_" + std::to_string(size));
    EXPECT_EQ(ds.getTypeClass(), H5T_INTEGER);
    EXPECT_EQ(ds.getDataType().getSize(), 1u);
    EXPECT_EQ(dims_of(ds), (std::vector<hsize_t>{99, hsize_t(size), hsize_t(size), 3}));
  }
  EXPECT_FALSE(f.nameExists("data_64"));
  int64_t count = 0;
  f.openGroup("/").openAttribute("page_count").read(H5::PredType::NATIVE_INT64, &count);
  EXPECT_EQ(count, 99);
  int version = 0;
  f.openGroup("/").openAttribute("format_version").read(H5::PredType::NATIVE_INT, &version);
  EXPECT_EQ(version, kDatasetFormatVersion);

  auto names = names_of(out);
  ASSERT_EQ(names.size(), 99u);
  // Sorted by path, pages in order: R-data.pdf, item1/R-FAQ.pdf, scanned.pdf.
  EXPECT_EQ(names[0], "R-data.pdf#1");
  EXPECT_EQ(names[41], "item1/R-FAQ.pdf#1");
  EXPECT_EQ(names[98], "scanned.pdf#6");
  // No temporary files left.
  for (auto& e : fs::directory_iterator(dir_ / "out")) EXPECT_FALSE(deepzine::util::is_atomic_temp_name(e.path()));
}

TEST_F(PdfFolder, PagesAreMostlyWhiteWithInkIncludingScannedOnes) {
  BuildOptions o = options(128);
  build_dataset(o);
  auto pixels = read_all(o.output_file, 128);
  const size_t page = 128 * 128 * 3;
  ASSERT_EQ(pixels.size(), 99 * page);
  for (size_t i : {size_t(3), size_t(45), size_t(95)}) {  // typeset, typeset, scanned
    auto first = pixels.begin() + i * page;
    double mean = std::accumulate(first, first + page, 0.0) / page;
    size_t inked = std::count_if(first, first + page, [](uint8_t v) { return v < 160; });
    EXPECT_GT(mean, 170) << "page " << i;                   // paper
    EXPECT_GT(inked, 40u) << "page " << i;                   // text, not a blank page
    EXPECT_LT(inked, page / 2) << "page " << i;
  }
}

// The fixture pages (typeset and scanned) have three equal channels: stored once, they take well under
// the three-channel file's bytes, and data_<size> reads back exactly the same pixels.
TEST_F(PdfFolder, GreyPagesAreStoredOnceAndReadBackAsTheSameRgbPixels) {
  BuildOptions compact = options(64);
  build_dataset(compact);
  BuildOptions plain = options(64);
  plain.compact_grey_pages = false;
  plain.output_file = dir_ / "out" / "plain.h5";
  build_dataset(plain);
  for (int size : {64, 16, 4}) EXPECT_TRUE(read_all(compact.output_file, size) == read_all(plain.output_file, size)) << size;
  H5::H5File f(compact.output_file.string(), H5F_ACC_RDONLY);
  hsize_t grey[4], rgb[4];
  f.openDataSet(store_name(64, 1)).getSpace().getSimpleExtentDims(grey);
  f.openDataSet(store_name(64, 3)).getSpace().getSimpleExtentDims(rgb);
  EXPECT_EQ(grey[0], 99u);
  EXPECT_EQ(rgb[0], 0u);
  const double ratio = double(fs::file_size(compact.output_file)) / double(fs::file_size(plain.output_file));
  EXPECT_LT(ratio, 0.75) << fs::file_size(compact.output_file) << " vs " << fs::file_size(plain.output_file);
}

#ifdef DEEPZINE_HAVE_POPPLER_CPP
// The render workers (poppler's core API, one output device per document) store the very pixels
// poppler-cpp's page_renderer gives for each page (what load_data rendered with before): every page
// poppler-cpp renders at exactly the page size is compared byte for byte.
TEST_F(PdfFolder, PagesAreThePixelsPopplerCppRenders) {
  const int size = 64;
  BuildOptions o = options(size);
  o.compact_grey_pages = false;
  build_dataset(o);
  const std::vector<uint8_t> stored = read_all(o.output_file, size);
  const std::vector<std::string> names = names_of(o.output_file);
  const size_t page_bytes = size * size * 3;
  int compared = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    const auto hash = name.rfind('#');
    std::unique_ptr<poppler::document> doc(poppler::document::load_from_file((dir_ / "pdfs" / name.substr(0, hash)).string()));
    ASSERT_TRUE(doc) << name;
    std::unique_ptr<poppler::page> page(doc->create_page(std::stoi(name.substr(hash + 1)) - 1));
    poppler::rectf box = page->page_rect(poppler::crop_box);
    poppler::page_renderer renderer;
    renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
    renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
    renderer.set_image_format(poppler::image::format_rgb24);
    poppler::image image = renderer.render_page(page.get(), 72.0 * size / box.width(), 72.0 * size / box.height());
    if (image.width() != size || image.height() != size) continue;  // resized to the page size after rendering
    std::vector<uint8_t> expected;
    for (int y = 0; y < size; ++y) {
      const char* row = image.const_data() + y * image.bytes_per_row();
      expected.insert(expected.end(), row, row + size * 3);
    }
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), stored.begin() + i * page_bytes)) << name;
    ++compared;
  }
  EXPECT_GT(compared, 90) << "of " << names.size() << " pages";
}

// At 1024 Splash's stock glyph caches hold 8-32 glyphs a font, and the renderer widens them
// (renderer.cpp): a hit must be the very bitmap a miss rasterises. Ten pages through one document
// (caches carried from page to page) against poppler-cpp, which builds fresh stock caches per page.
TEST(Renderer, WidenedGlyphCachesGiveTheStockPixelsAt1024) {
  const int size = 1024;
  const fs::path file = fixtures() / "pdfs" / "R-data.pdf";
  const int64_t widened_before = widened_glyph_caches();
  PdfDocument pdf(file);
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_file(file.string()));
  ASSERT_TRUE(doc);
  int compared = 0;
  for (int index = 0; index < 10; ++index) {
    const PageImage ours = pdf.render(index, size, 3, PageFit::kStretch);
    std::unique_ptr<poppler::page> page(doc->create_page(index));
    const poppler::rectf box = page->page_rect(poppler::crop_box);
    poppler::page_renderer renderer;
    renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
    renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
    renderer.set_image_format(poppler::image::format_rgb24);
    poppler::image image = renderer.render_page(page.get(), 72.0 * size / box.width(), 72.0 * size / box.height());
    if (image.width() != size || image.height() != size) continue;
    bool equal = true;
    for (int y = 0; y < size && equal; ++y) {
      equal = std::memcmp(image.const_data() + y * image.bytes_per_row(), ours.pixels.data() + y * size * 3, size * 3) == 0;
    }
    EXPECT_TRUE(equal) << "page " << index + 1;
    ++compared;
  }
  EXPECT_GE(compared, 5);
  EXPECT_GT(widened_glyph_caches(), widened_before) << "no font's glyph cache was widened: text renders at stock speed";
}
#endif

TEST_F(PdfFolder, SameInputGivesIdenticalFile) {
  BuildOptions a = options(16);
  build_dataset(a);
  BuildOptions b = options(16);
  b.output_file = dir_ / "out" / "again.h5";
  b.workers = 1;
  build_dataset(b);
  EXPECT_EQ(read_all(a.output_file, 16), read_all(b.output_file, 16));
  EXPECT_EQ(names_of(a.output_file), names_of(b.output_file));
}

TEST_F(PdfFolder, KilledBuildLeavesNothingHalfWrittenAndRerunCompletes) {
  BuildOptions o = options(1024);
  pid_t child = fork();
  if (child == 0) {
    try {
      build_dataset(o);
    } catch (...) {
    }
    _exit(0);
  }
  // Killed at a point the test sees: the writer has opened its first segment (pages are being
  // written), not after a guessed delay that passes even when the build never started.
  const fs::path open_segment = o.output_file.string() + ".parts/open-segment.h5";
  bool writing = false;
  for (int i = 0; i < 6000 && !writing; ++i) {
    usleep(5 * 1000);
    writing = fs::exists(open_segment);
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(writing) << "the build never started writing pages";
  EXPECT_FALSE(fs::exists(o.output_file)) << "a killed build must not leave a file that looks complete";
  o.max_size = 32;  // the rerun (smaller, to keep the test quick)
  BuildSummary s = build_dataset(o);
  EXPECT_EQ(s.pages, 99);
  EXPECT_EQ(names_of(o.output_file).size(), 99u);
  for (auto& e : fs::directory_iterator(dir_ / "out")) {
    EXPECT_FALSE(deepzine::util::is_atomic_temp_name(e.path())) << e.path() << " left behind";
  }
}

// kill -9 after some segments were committed: the rerun keeps them, renders only the rest, and the
// result is identical (order, names, every pixel of every level) to an uninterrupted build.
TEST_F(PdfFolder, KilledBuildResumesFromItsCommittedSegments) {
  BuildOptions o = options(128);
  o.workers = 1;
  o.segment_pages = 8;
  const fs::path parts = o.output_file.string() + ".parts";
  pid_t child = fork();
  if (child == 0) {
    try {
      build_dataset(o);
    } catch (...) {
    }
    _exit(0);
  }
  int committed = 0;
  for (int i = 0; i < 3000 && committed < 3; ++i) {
    usleep(10 * 1000);
    committed = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(parts, ec); !ec && it != fs::directory_iterator(); ++it)
      if (it->path().filename().string().rfind("part-", 0) == 0) ++committed;
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_GE(committed, 3) << "the build committed no segments";
  ASSERT_FALSE(fs::exists(o.output_file)) << "finished before it could be killed; slow the build down";
  // The last committed segment damaged since (cut in half): it is checked in a child, dropped, and its
  // tasks render again; the segments before it are kept.
  fs::path last;
  int64_t last_first = -1;
  for (const auto& entry : fs::directory_iterator(parts)) {
    long first = 0, end = 0;
    if (std::sscanf(entry.path().filename().c_str(), "part-%ld-%ld.h5", &first, &end) == 2 && first > last_first) {
      last_first = first, last = entry.path();
    }
  }
  fs::resize_file(last, fs::file_size(last) / 2);

  BuildSummary resumed = build_dataset(o);
  EXPECT_GE(resumed.pages_resumed, 2 * 8);
  EXPECT_LT(resumed.pages_resumed, 99);
  EXPECT_EQ(resumed.pages, 99);
  EXPECT_EQ(resumed.files_skipped, 3);
  EXPECT_FALSE(fs::exists(parts)) << "segments left behind";

  BuildOptions clean = options(128);
  clean.output_file = dir_ / "clean" / "pages.h5";
  build_dataset(clean);
  EXPECT_EQ(names_of(o.output_file), names_of(clean.output_file));
  for (int size : {128, 64, 8, 4}) EXPECT_TRUE(read_all(o.output_file, size) == read_all(clean.output_file, size)) << size;
}

TEST_F(PdfFolder, ChangedSettingsDiscardAnInterruptedBuild) {
  BuildOptions o = options(16);
  o.segment_pages = 4;
  const fs::path parts = o.output_file.string() + ".parts";
  fs::create_directories(parts);
  std::ofstream(parts / "build.txt") << "deepzine-pages-v1 max_size=32 other settings\n";
  std::ofstream(parts / "part-0-5.h5") << "stale";
  BuildSummary s = build_dataset(o);
  EXPECT_EQ(s.pages_resumed, 0);
  EXPECT_EQ(s.pages, 99);
  EXPECT_EQ(names_of(o.output_file).size(), 99u);
}

TEST_F(PdfFolder, NoPdfsIsAClearError) {
  BuildOptions o = options();
  o.pdf_directory = dir_ / "nothing";
  fs::create_directories(o.pdf_directory);
  try {
    build_dataset(o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no PDF files found under"), std::string::npos) << e.what();
  }
}

TEST(Renderer, PageFitAndGrey) {
  PdfDocument doc(fixtures() / "pdfs" / "R-FAQ.pdf");
  EXPECT_EQ(doc.page_count(), 52);
  PageImage pad = doc.render(0, 64, 1, PageFit::kPad);
  ASSERT_EQ(pad.pixels.size(), 64u * 64u);
  // A portrait page padded to a square has white columns at the left and right edges.
  for (int y = 0; y < 64; ++y) {
    EXPECT_EQ(pad.pixels[y * 64 + 0], 255);
    EXPECT_EQ(pad.pixels[y * 64 + 63], 255);
  }
  PageImage crop = doc.render(0, 64, 3, PageFit::kCrop);
  PageImage stretch = doc.render(0, 64, 3, PageFit::kStretch);
  EXPECT_EQ(crop.pixels.size(), 64u * 64u * 3u);
  EXPECT_NE(crop.pixels, stretch.pixels);
  auto pyramid = downsample_pyramid(stretch);
  ASSERT_EQ(pyramid.size(), 4u);  // 32, 16, 8, 4
  EXPECT_EQ(pyramid.back().size, 4);
  EXPECT_THROW(parse_page_fit("squash"), std::invalid_argument);
}

// downsample_pyramid builds each level from the previous one's block sums; its pixels must be
// those of OpenCV's INTER_AREA resize of the full page (what load_data wrote before), ties included.
TEST(Renderer, PyramidIsOpenCvAreaResizeOfTheFullPage) {
  cv::RNG rng(7);
  for (int size : {1024, 64, 8, 100}) {  // 100: levels 50, 25, 12, 6 (not all halvings exact)
    for (int channels : {1, 3}) {
      PageImage page;
      page.size = size;
      page.channels = channels;
      page.pixels.resize(static_cast<size_t>(size) * size * channels);
      cv::Mat full(size, size, channels == 1 ? CV_8UC1 : CV_8UC3, page.pixels.data());
      rng.fill(full, cv::RNG::UNIFORM, 0, 256);
      // A white page with text-like strokes too: long runs of equal values, many exact halves.
      if (size == 64) cv::rectangle(full, cv::Rect(0, 0, 64, 32), cv::Scalar::all(255), cv::FILLED);
      const auto pyramid = downsample_pyramid(page);
      int expected_side = size / 2;
      for (const PageImage& level : pyramid) {
        ASSERT_EQ(level.size, expected_side);
        cv::Mat reference;
        cv::resize(full, reference, cv::Size(level.size, level.size), 0, 0, cv::INTER_AREA);
        const std::vector<uint8_t> want(reference.data, reference.data + reference.total() * reference.elemSize());
        EXPECT_EQ(level.pixels, want) << "size " << size << " channels " << channels << " level " << level.size;
        expected_side /= 2;
      }
    }
  }
}

// The render workers' shortcut for grey pages (the pyramid of one channel) stores exactly what the
// three-channel pyramid stores.
TEST(Renderer, GreyPagesCompressToTheChunksOfTheirThreeChannelPyramid) {
  cv::RNG rng(11);
  for (bool grey : {true, false}) {
    PageImage page;
    page.size = 128;
    page.channels = 3;
    page.pixels.resize(128 * 128 * 3);
    for (size_t i = 0; i < page.pixels.size(); i += 3) {
      const auto v = static_cast<uint8_t>(rng.uniform(0, 256));
      page.pixels[i] = page.pixels[i + 1] = page.pixels[i + 2] = v;
      if (!grey && i % 999 == 0) page.pixels[i + 1] = static_cast<uint8_t>(v ^ 1);
    }
    std::vector<PageImage> pyramid = downsample_pyramid(page);
    pyramid.insert(pyramid.begin(), page);
    const auto reference = deepzine::pages::compress_pyramid(pyramid, true);
    const auto shortcut = deepzine::pages::compress_page(page, true);
    EXPECT_EQ(shortcut.kind, grey ? 1 : 3);
    EXPECT_EQ(shortcut.kind, reference.kind);
    EXPECT_EQ(shortcut.levels, reference.levels) << (grey ? "grey" : "colour");
  }
}

// A symbolic-link loop among the PDFs is one skipped file, not the end of the stage; a PDF reached
// through two links is rendered once.
TEST(PdfListing, LinkLoopsAreSkippedAndDuplicatesRenderedOnce) {
  deepzine::testing_support::TempDir dir("deepzine_links");
  const fs::path pdfs = dir / "pdfs";
  fs::create_directories(pdfs / "sub");
  fs::copy_file(fs::path(std::getenv("DEEPZINE_FIXTURES")) / "pdfs" / "R-data.pdf", pdfs / "a.pdf");
  fs::create_symlink(pdfs / "a.pdf", pdfs / "sub" / "again.pdf");
  fs::create_symlink(pdfs / "loop2.pdf", pdfs / "loop1.pdf");
  fs::create_symlink(pdfs / "loop1.pdf", pdfs / "loop2.pdf");
  std::vector<std::string> problems;
  const auto found = deepzine::pages::find_pdfs(pdfs, &problems);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0], pdfs / "a.pdf");
  ASSERT_EQ(problems.size(), 3u);
  int loops = 0, duplicates = 0;
  for (const auto& p : problems) {
    loops += p.find("looping symbolic link") != std::string::npos;
    duplicates += p.find("the same file as " + (pdfs / "a.pdf").string()) != std::string::npos;
  }
  EXPECT_EQ(loops, 2);
  EXPECT_EQ(duplicates, 1);
  deepzine::pages::BuildOptions o;
  o.pdf_directory = pdfs;
  o.output_file = dir / "pages.h5";
  o.max_size = 8;
  const auto summary = deepzine::pages::build_dataset(o);
  EXPECT_EQ(summary.files_skipped, 3);
  EXPECT_EQ(summary.pages, deepzine::pages::read_page_count(o.output_file));
  EXPECT_GT(summary.pages, 0);
}
