#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "deepzine/archive/downloader.h"
#include "deepzine/util/atomic_file.h"
#include "deepzine/util/error.h"
#include "fake_archive.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;
using deepzine::fake::FakeArchive;
using deepzine::fake::FakeFile;

namespace {
fs::path fixture(const std::string& name) { return fs::path(std::getenv("DEEPZINE_FIXTURES")) / name; }

class Archive : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_ / "home");
    setenv("HOME", (dir_ / "home").c_str(), 1);
    unsetenv("IA_ACCESS_KEY");
    unsetenv("IA_SECRET_KEY");
    pdf_ = fake::read_file(fixture("pdfs/R-FAQ.pdf"));
    scan_ = fake::read_file(fixture("pdfs/scanned-R-FAQ-p3-8.pdf"));
  }
  // Three items; each has a PDF to take, a _bw.pdf and a text file to leave.
  void add_items(FakeArchive& s, int n = 3) {
    for (int i = 0; i < n; ++i) {
      s.add_item("item" + std::to_string(i), {{"book.pdf", i % 2 ? scan_ : pdf_, ""},
                                              {"book_bw.pdf", "bw", ""},
                                              {"notes.txt", "text", ""}});
    }
  }
  archive::DownloadOptions options(const FakeArchive& s) {
    archive::DownloadOptions o;
    o.base_url = s.base_url();
    o.collection = "testcollection";
    o.output_dir = dir_ / "pdfs";
    o.workers = 3;
    o.retries = 3;
    o.backoff_seconds = 0.01;
    o.timeout_seconds = 5;
    return o;
  }
  size_t files_under(const fs::path& p) {
    size_t n = 0;
    for (auto& e : fs::recursive_directory_iterator(p)) n += e.is_regular_file();
    return n;
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_archive"};  // tests/support/temp_dir.h
  fs::path dir_;
  std::string pdf_, scan_;
};
}  // namespace

TEST(ArchiveNames, UnsafeNamesAreRefused) {
  EXPECT_TRUE(archive::is_safe_relative_path("book.pdf"));
  EXPECT_TRUE(archive::is_safe_relative_path("sub/dir/book.pdf"));
  for (const char* bad : {"", "/etc/passwd", "../evil.pdf", "a/../../b.pdf", "a//b", "./x", "tab\there", "back\\slash"}) {
    EXPECT_FALSE(archive::is_safe_relative_path(bad)) << bad;
  }
  EXPECT_TRUE(archive::glob_match("*.pdf", "book.pdf"));
  EXPECT_FALSE(archive::glob_match("*.pdf", "book.pdf.txt"));
  EXPECT_TRUE(archive::glob_match("vol[0-9]_*.pdf", "vol3_x.pdf"));
  EXPECT_TRUE(archive::glob_match("?ook.*", "book.pdf"));
}

TEST_F(Archive, PagedSearchDownloadsMatchingFilesIntoItemFolders) {
  FakeArchive s;
  add_items(s, 5);  // 3 search pages of 2
  auto sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.items, 5);
  EXPECT_EQ(sum.files, 5);
  EXPECT_EQ(sum.downloaded, 5);
  EXPECT_EQ(sum.failed, 0);
  EXPECT_EQ(fake::read_file((dir_ / "pdfs" / "item0" / "book.pdf").string()), pdf_);
  EXPECT_EQ(fake::read_file((dir_ / "pdfs" / "item1" / "book.pdf").string()), scan_);
  EXPECT_FALSE(fs::exists(dir_ / "pdfs" / "item0" / "book_bw.pdf"));
  EXPECT_FALSE(fs::exists(dir_ / "pdfs" / "item0" / "notes.txt"));
  EXPECT_EQ(files_under(dir_ / "pdfs"), 5u);
}

TEST_F(Archive, PdfNumCapsTheItems) {
  FakeArchive s;
  add_items(s, 5);
  auto o = options(s);
  o.max_items = 3;
  auto sum = archive::download_collection(o);
  EXPECT_EQ(sum.items, 3);
  EXPECT_EQ(files_under(dir_ / "pdfs"), 3u);
}

TEST_F(Archive, RerunOnlyFetchesWhatIsMissing) {
  FakeArchive s;
  add_items(s);
  archive::download_collection(options(s));
  const int first = s.downloads;
  fs::remove(dir_ / "pdfs" / "item2" / "book.pdf");
  // A leftover of a killed run is neither counted nor kept.
  std::ofstream(dir_ / "pdfs" / "item2" / "book.pdf.tmp-999-0") << "partial";
  auto sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.skipped_present, 2);
  EXPECT_EQ(sum.downloaded, 1);
  EXPECT_EQ(s.downloads - first, 1);
  EXPECT_FALSE(fs::exists(dir_ / "pdfs" / "item2" / "book.pdf.tmp-999-0"));
}

TEST_F(Archive, ServerErrorsAreRetried) {
  FakeArchive s;
  add_items(s, 1);
  s.faults.fail_503 = 2;
  auto sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.downloaded, 1);
  EXPECT_EQ(s.downloads, 3);
}

TEST_F(Archive, TooManyRequestsHonoursRetryAfter) {
  FakeArchive s;
  add_items(s, 1);
  s.faults.fail_429 = 1;
  const auto t0 = std::chrono::steady_clock::now();
  auto sum = archive::download_collection(options(s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(sum.downloaded, 1);
  EXPECT_GE(secs, 0.95);  // Retry-After: 1, far above the 10 ms backoff
}

TEST_F(Archive, TruncatedBodyIsNeverKept) {
  FakeArchive s;
  add_items(s, 1);
  s.faults.truncate = 1;  // once: the retry succeeds
  auto sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.downloaded, 1);
  EXPECT_EQ(fake::read_file((dir_ / "pdfs" / "item0" / "book.pdf").string()), pdf_);
  fs::remove_all(dir_ / "pdfs");
  s.faults.truncate = 100;  // always: reported, nothing kept
  sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.failed, 1);
  EXPECT_FALSE(fs::exists(dir_ / "pdfs" / "item0" / "book.pdf"));
  for (auto& e : fs::recursive_directory_iterator(dir_ / "pdfs")) EXPECT_FALSE(util::is_atomic_temp_name(e.path()));
}

TEST_F(Archive, WrongMd5IsReportedAndLeftOut) {
  FakeArchive s;
  s.add_item("good", {{"a.pdf", pdf_, ""}});
  s.add_item("bad", {{"b.pdf", pdf_, "00000000000000000000000000000000"}});
  auto sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.downloaded, 1);
  EXPECT_EQ(sum.failed, 1);
  ASSERT_EQ(sum.failures.size(), 1u);
  EXPECT_NE(sum.failures[0].find("bad/b.pdf: md5 mismatch"), std::string::npos) << sum.failures[0];
  EXPECT_FALSE(fs::exists(dir_ / "pdfs" / "bad" / "b.pdf"));
  EXPECT_EQ(s.downloads, 1 + 4);  // one try plus three retries for the bad one
}

TEST_F(Archive, UnsafeFileNamesNeverWriteOutside) {
  FakeArchive s;
  s.add_item("item", {{"../escape.pdf", pdf_, ""}, {"ok.pdf", pdf_, ""}});
  auto sum = archive::download_collection(options(s));
  EXPECT_EQ(sum.downloaded, 1);
  EXPECT_EQ(sum.failed, 1);
  EXPECT_NE(sum.failures[0].find("unsafe file name"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "escape.pdf"));
  EXPECT_FALSE(fs::exists(dir_ / "pdfs" / "escape.pdf"));
}

TEST_F(Archive, SearchErrorIsAClearError) {
  FakeArchive s;
  s.faults.search_error = true;
  try {
    archive::download_collection(options(s));
    FAIL();
  } catch (const util::StageError& e) {
    EXPECT_NE(std::string(e.what()).find("collection 'testcollection': the search API answered"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid query"), std::string::npos);
  }
}

TEST_F(Archive, StalledTransferTimesOutAndIsRetried) {
  FakeArchive s;
  add_items(s, 1);
  s.faults.slow_seconds = 3;
  auto o = options(s);
  o.timeout_seconds = 1;
  o.retries = 1;
  const auto t0 = std::chrono::steady_clock::now();
  auto sum = archive::download_collection(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(sum.failed, 1);
  EXPECT_NE(sum.failures[0].find("network error"), std::string::npos) << sum.failures[0];
  EXPECT_LT(secs, 8);
}

TEST_F(Archive, CredentialsFromIaIniAreSentAndNeverLogged) {
  fs::create_directories(dir_ / "home" / ".config" / "internetarchive");
  std::ofstream(dir_ / "home" / ".config" / "internetarchive" / "ia.ini")
      << "[s3]\naccess = MYACCESSKEY\nsecret = TOPSECRETVALUE\n\n[cookies]\nlogged-in-user = x\n";
  auto c = archive::load_credentials();
  EXPECT_EQ(c.access, "MYACCESSKEY");
  FakeArchive s;
  add_items(s, 1);
  s.faults.search_error = true;  // an error path too must not leak it
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  std::string error;
  try {
    archive::download_collection(options(s));
  } catch (const std::exception& e) {
    error = e.what();
  }
  s.faults.search_error = false;
  archive::download_collection(options(s));
  std::string logs = ::testing::internal::GetCapturedStdout() + ::testing::internal::GetCapturedStderr() + error;
  EXPECT_EQ(s.last_authorization(), "LOW MYACCESSKEY:TOPSECRETVALUE");
  EXPECT_EQ(logs.find("TOPSECRETVALUE"), std::string::npos);
  EXPECT_NE(logs.find("with Internet Archive credentials"), std::string::npos) << logs;
  // The environment wins over the file.
  setenv("IA_ACCESS_KEY", "ENVA", 1);
  setenv("IA_SECRET_KEY", "ENVS", 1);
  EXPECT_EQ(archive::load_credentials().access, "ENVA");
}

#include <sys/wait.h>

TEST_F(Archive, LoadDataStageDownloadsThenRendersAndReportsFailuresInTheExitStatus) {
  FakeArchive s;
  add_items(s, 2);
  s.add_item("broken", {{"c.pdf", pdf_, "ffffffffffffffffffffffffffffffff"}});
  const fs::path cfg = dir_ / "c.yaml";
  std::ofstream(cfg) << "load_data: True\ninternetarchive_collection: testcollection\n"
                     << "internetarchive_base_url: " << s.base_url() << "\n"
                     << "pdf_directory: " << (dir_ / "pdfs").string() << "\n"
                     << "data_hdf5: " << (dir_ / "pages.h5").string() << "\n"
                     << "data_output_size: 16\ndownload_retries: 1\n";
  const std::string cmd = std::string(std::getenv("DEEPZINE_BINARY")) + " " + cfg.string() + " > " +
                          (dir_ / "log.txt").string() + " 2>&1";
  const int st = std::system(cmd.c_str());
  const std::string log = fake::read_file((dir_ / "log.txt").string());
  EXPECT_EQ(WEXITSTATUS(st), 4) << log;  // finished, but one file failed
  EXPECT_NE(log.find("broken/c.pdf: md5 mismatch"), std::string::npos) << log;
  EXPECT_NE(log.find("load_data: 58 pages from 2 PDF(s)"), std::string::npos) << log;  // 52 + 6 pages
  EXPECT_TRUE(fs::exists(dir_ / "pages.h5"));
}
