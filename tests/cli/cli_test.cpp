#include <gtest/gtest.h>

#include <chrono>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/shell.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

namespace {
struct Result {
  int status = -1;
  std::string output;  // stdout and stderr
};

fs::path fixtures() { return fs::path(std::getenv("DEEPZINE_FIXTURES")); }

class Cli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_ / "home");
    fs::create_directories(dir_ / "work");
  }

  // Runs deepzine with HOME and the working directory inside the test folder.
  Result run(const std::string& args, const std::string& environment = "") {
    auto r = deepzine::testing_support::shell("cd '" + (dir_ / "work").string() + "' && " + environment + "HOME='" +
                                             (dir_ / "home").string() + "' '" + std::getenv("DEEPZINE_BINARY") +
                                             "' " + args);
    return Result{r.status, r.output};
  }
  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  // A config that renders R-data.pdf at 8 px and trains a tiny model on it into dir_/models.
  fs::path tiny_training_config(int gan_output_size, int iterations_per_stage) {
    fs::create_directories(dir_ / "pdfs");
    fs::copy_file(fixtures() / "pdfs" / "R-data.pdf", dir_ / "pdfs" / "R-data.pdf");
    return write("cfg.yaml", "load_data: True\ntrain: True\ndownload_pdf: False\npdf_directory: " +
                                 (dir_ / "pdfs").string() + "\ndata_hdf5: " + (dir_ / "pages.h5").string() +
                                 "\ndata_output_size: 8\ndevice: cpu\nlog_dir: " + (dir_ / "models").string() +
                                 "\nsamples_dir: " + (dir_ / "samples").string() +
                                 "\ngan_output_size: " + std::to_string(gan_output_size) +
                                 "\nlatent_size: 16\nmax_filter: 16\nbatch_size: 4\niterations_per_stage: " +
                                 std::to_string(iterations_per_stage) +
                                 "\nmodel_loss_output_interval_steps: 5\nswd_image_num: 0\n");
  }
  size_t files_under(const fs::path& p) {
    size_t n = 0;
    for (auto it = fs::recursive_directory_iterator(p); it != fs::recursive_directory_iterator(); ++it) ++n;
    return n;
  }
  deepzine::testing_support::TempDir tmp_{"deepzine_cli"};  // tests/support/temp_dir.h
  fs::path dir_;
};
}  // namespace

TEST_F(Cli, HelpDocumentsEveryFlag) {
  Result r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* flag : {"CONFIG", "--set", "--only", "--dry-run", "--report", "--nproc", "--help", "--version", "--list-keys"}) {
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag << " missing from --help:\n" << r.output;
  }
  EXPECT_NE(r.output.find("Exit status"), std::string::npos);
}

TEST_F(Cli, Version) {
  Result r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("deepzine " DEEPZINE_VERSION), std::string::npos) << r.output;
}

TEST_F(Cli, OriginalConfigsPassDryRunAndWriteNothing) {
  for (const char* name : {"config.yaml", "config_preloaded.yaml"}) {
    Result r = run("'" + (fixtures() / "original_config" / name).string() + "' --dry-run");
    EXPECT_EQ(r.status, 0) << name << "\n" << r.output;
    EXPECT_NE(r.output.find("resolution schedule"), std::string::npos) << r.output;
    // "~" expanded to the HOME of the run.
    EXPECT_NE(r.output.find((dir_ / "home").string()), std::string::npos) << r.output;
  }
  EXPECT_EQ(files_under(dir_ / "home"), 0u);
  EXPECT_EQ(files_under(dir_ / "work"), 0u);
}

TEST_F(Cli, DryRunPrintsScheduleWithFiltersBatchAndParameters) {
  Result r = run("'" + (fixtures() / "original_config" / "config.yaml").string() + "' --dry-run");
  ASSERT_EQ(r.status, 0) << r.output;
  // Original config: max_filter 128, reduction from 64, batch 16 reduced to 4 from 256 (not reached).
  EXPECT_NE(r.output.find("128_Transition"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("G params"), std::string::npos);
  EXPECT_NE(r.output.find("load_data      run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/pdf_directory"), std::string::npos);
}

TEST_F(Cli, OnlyRestrictsStages) {
  Result r = run("'" + (fixtures() / "original_config" / "config.yaml").string() + "' --dry-run --only train");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("load_data      skipped (--only)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train          run"), std::string::npos) << r.output;
  r = run("'" + (fixtures() / "original_config" / "config.yaml").string() + "' --only training");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("unknown stage 'training'"), std::string::npos) << r.output;
}

TEST_F(Cli, BadConfigExitsTwoWithMessageAndWritesNothing) {
  fs::path cfg = write("bad.yaml", "train: True\ndata_hdf5: ~/d.h5\ngan_output_size: 100\n");
  Result r = run("'" + cfg.string() + "'");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("bad.yaml:3: key 'gan_output_size': 100 is not allowed"), std::string::npos) << r.output;
  EXPECT_EQ(files_under(dir_ / "home"), 0u);
  EXPECT_EQ(files_under(dir_ / "work"), 0u);
}

TEST_F(Cli, SetOverridesAndBadArguments) {
  fs::path cfg = write("c.yaml", "train: False\n");
  Result r = run("'" + cfg.string() + "' --dry-run --set gan_output_size=64 --set batch_size=8");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("64_Transition"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("128_Transition"), std::string::npos) << r.output;
  r = run("'" + cfg.string() + "' --set nonsense");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("expected KEY=VALUE"), std::string::npos) << r.output;
  r = run("");
  EXPECT_EQ(r.status, 2);
  r = run("'" + (dir_ / "missing.yaml").string() + "'");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("no such file"), std::string::npos) << r.output;
}

// An output folder that cannot be made (a file where a folder belongs, a read-only folder) is named
// with its key by --dry-run and before any stage runs, not discovered by a stage half-way.
TEST_F(Cli, UnusableOutputFoldersAreNamedUpFront) {
  write("afile", "x");
  fs::create_directories(dir_ / "pdfs");
  fs::path cfg = write("c.yaml", "load_data: True\ntrain: True\ndownload_pdf: False\npdf_directory: " +
                                     (dir_ / "pdfs").string() + "\ndata_hdf5: " + (dir_ / "afile" / "pages.h5").string() +
                                     "\nlog_dir: " + (dir_ / "afile" / "log").string() + "\n");
  for (const std::string extra : {" --dry-run", ""}) {
    Result r = run("'" + cfg.string() + "'" + extra);
    EXPECT_EQ(r.status, 2) << extra << r.output;
    EXPECT_NE(r.output.find("data_hdf5 " + (dir_ / "afile" / "pages.h5").parent_path().string() + ": " +
                            (dir_ / "afile").string() + " is a file, not a folder"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("log_dir " + (dir_ / "afile" / "log").string()), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("filesystem error"), std::string::npos) << r.output;
  }
  EXPECT_EQ(files_under(dir_ / "work"), 0u);
}

// A PDF whose name carries a terminal escape sequence is named in the log with it escaped.
TEST_F(Cli, ControlCharactersOfFileNamesNeverReachTheTerminal) {
  fs::create_directories(dir_ / "pdfs");
  write("pdfs/bad\x1b[2Jname.pdf", "not a pdf");
  fs::copy_file(fixtures() / "pdfs" / "R-data.pdf", dir_ / "pdfs" / "R-data.pdf");
  fs::path cfg = write("c.yaml", "load_data: True\ndownload_pdf: False\npdf_directory: " + (dir_ / "pdfs").string() +
                                     "\ndata_hdf5: " + (dir_ / "out" / "pages.h5").string() + "\ndata_output_size: 8\n");
  Result r = run("'" + cfg.string() + "'");
  EXPECT_EQ(r.status, 4) << r.output;  // done, with a file skipped
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bad\\x1b[2Jname.pdf"), std::string::npos) << r.output;
}

// A full disk during load_data (here: the file-size limit, with SIGXFSZ ignored so that writes fail
// with an error as on a full disk): the stage fails with exit 3, leaves no page file and no open
// segment, does not crash on exit, and a rerun with room completes.
TEST_F(Cli, AFullDiskDuringLoadDataLeavesNoPageFileAndARerunCompletes) {
  fs::create_directories(dir_ / "pdfs");
  fs::copy_file(fixtures() / "pdfs" / "R-data.pdf", dir_ / "pdfs" / "R-data.pdf");
  const fs::path pages = dir_ / "out" / "pages.h5";
  fs::path cfg = write("c.yaml", "load_data: True\ndownload_pdf: False\npdf_directory: " + (dir_ / "pdfs").string() +
                                     "\ndata_hdf5: " + pages.string() + "\ndata_output_size: 64\n");
  auto r = deepzine::testing_support::shell("cd '" + (dir_ / "work").string() + "' && trap '' XFSZ && ulimit -f 48 && '" +
                                            std::getenv("DEEPZINE_BINARY") + "' '" + cfg.string() + "'");
  EXPECT_EQ(r.status, 3) << r.output;  // a stage failure; -1 would be a crash
  EXPECT_FALSE(fs::exists(pages)) << r.output;
  EXPECT_FALSE(fs::exists(pages.string() + ".parts/open-segment.h5"));
  Result again = run("'" + cfg.string() + "'");
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_TRUE(fs::exists(pages));
  // A damaged page file is not reused as done.
  fs::resize_file(pages, fs::file_size(pages) / 2);
  Result reuse = run("'" + cfg.string() + "'");
  EXPECT_EQ(reuse.status, 3) << reuse.output;
  EXPECT_NE(reuse.output.find("exists but is not a usable page file"), std::string::npos) << reuse.output;
  EXPECT_NE(reuse.output.find("overwrite: True"), std::string::npos) << reuse.output;
}

// An existing data_hdf5 that makes HDF5 crash (fuzz_page_file's symbol-table node; a damaged virtual
// dataset that aborts in a fortified memcpy) with overwrite: False: load_data checks it in a forked
// child and refuses it by name (exit 3), where the check in process used to end the run by the signal.
TEST_F(Cli, AnExistingPageFileThatCrashesHdf5IsRefusedNotTheEndOfTheRun) {
  // The first fails an HDF5 call before the walk reaches the node HDF5 crashes on; the second crashes.
  const std::pair<std::string, std::string> cases[] = {
      {"fuzz_symbol_table_crash.h5", "does not verify (H5Aopen failed)"},
      {"fuzz_vds_fortify_abort.h5", "makes the HDF5 library crash when read (signal 6"}};
  for (const auto& [name, reason] : cases) {
    const fs::path pages = dir_ / "out" / name;
    fs::create_directories(pages.parent_path());
    fs::copy_file(fs::path(DEEPZINE_HOSTILE_H5_DIR) / name, pages, fs::copy_options::overwrite_existing);
    fs::path cfg = write("c.yaml", "load_data: True\ndownload_pdf: False\npdf_directory: " + (dir_ / "pdfs").string() +
                                       "\ndata_hdf5: " + pages.string() + "\ndata_output_size: 8\n");
    Result r = run("'" + cfg.string() + "'");
    EXPECT_EQ(r.status, 3) << name << ": " << r.output;  // -1 would be the run killed by the signal
    EXPECT_NE(r.output.find("data_hdf5 " + pages.string() + " exists but is not a usable page file"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(reason), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("set overwrite: True to rebuild it"), std::string::npos) << r.output;
  }
}

// poppler crashing on one page and hanging on another (an LD_PRELOAD shim, tests/pages/
// poppler_fault_shim.cpp): each is named and skipped, every other page of the same PDFs is rendered,
// and the hang costs page_timeout, not the run.
TEST_F(Cli, APdfThatCrashesOrHangsThePageRendererCostsOnlyThatPage) {
  fs::create_directories(dir_ / "pdfs");
  for (const char* name : {"R-data.pdf", "a-crash-on-page-2.pdf", "b-hang-on-page-1.pdf"})
    fs::copy_file(fixtures() / "pdfs" / "R-data.pdf", dir_ / "pdfs" / name);
  const fs::path shim = fs::path(std::getenv("DEEPZINE_BINARY")).parent_path() / "tests" / "libdeepzine_poppler_fault_shim.so";
  ASSERT_TRUE(fs::exists(shim)) << shim;
  fs::path cfg = write("c.yaml", "load_data: True\ndownload_pdf: False\npdf_directory: " + (dir_ / "pdfs").string() +
                                     "\ndata_hdf5: " + (dir_ / "out" / "pages.h5").string() +
                                     "\ndata_output_size: 8\npage_timeout: 1\nload_workers: 2\n");
  const auto start = std::chrono::steady_clock::now();
  Result r = run("'" + cfg.string() + "'", "LD_PRELOAD='" + shim.string() + "' ");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 4) << r.output;  // done, with pages skipped
  EXPECT_NE(r.output.find("a-crash-on-page-2.pdf#2: the renderer crashed (signal 11"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("b-hang-on-page-1.pdf#1: the renderer took longer than page_timeout (1 s)"),
            std::string::npos) << r.output;
  // R-data.pdf has 41 pages: 3 x 41 - 2 = 121 pages rendered, the pages after each bad one included.
  EXPECT_NE(r.output.find("load_data: 121 pages from 3 PDF(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 page(s) skipped"), std::string::npos) << r.output;
  EXPECT_LT(seconds, 60.0);
}

// Ctrl-C during training: the executable's signal handler and the trainer (in the LibTorch stages
// module, include/deepzine/stages/torch_stages.h) share one interrupt flag, so the run saves a
// checkpoint at the step it reached and exits 130.
TEST_F(Cli, AnInterruptDuringTrainingSavesACheckpointAndExits130) {
  const fs::path models = dir_ / "models", log = dir_ / "log.txt";
  const fs::path cfg = tiny_training_config(8, 1000000);
  // A checkpoint temporary a killed earlier run left (pid 2^22 + 1: above Linux's pid_max, never alive)
  // is removed when this run saves that checkpoint.
  const fs::path stale = models / "4" / "checkpoint.pt.tmp-4194305-0";
  fs::create_directories(stale.parent_path());
  std::ofstream(stale) << "cut short";
  auto r = deepzine::testing_support::shell(
      "cd '" + (dir_ / "work").string() + "' && { '" + std::getenv("DEEPZINE_BINARY") + "' '" + cfg.string() + "' > '" +
      log.string() + "' 2>&1 & pid=$!; for i in $(seq 1200); do grep -q 'step 11/' '" + log.string() +
      "' && break; sleep 0.1; done; kill -INT $pid; wait $pid; echo \"exit=$?\"; }");
  std::ifstream in(log);
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(r.output.find("exit=130"), std::string::npos) << r.output << out;
  EXPECT_NE(out.find("interrupted: saved"), std::string::npos) << out;
  EXPECT_NE(out.find("(stopped)"), std::string::npos) << out;  // the stage's bar does not say done
  EXPECT_EQ(out.find("(done)", out.find("stage train: starting")), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(models / "4" / "checkpoint.pt")) << out;
  EXPECT_FALSE(fs::exists(stale)) << out;
  EXPECT_NE(out.find("removed " + stale.string() + " left by an interrupted earlier run"), std::string::npos) << out;
}

// A disk that fills during training fails the metrics append at its write, not at its open (here
// metrics.csv is /dev/full, which opens and then answers ENOSPC): the run fails naming the file and
// log_dir instead of training on with rows missing.
TEST_F(Cli, AFullDiskUnderMetricsFailsTheTrainingByName) {
  const fs::path models = dir_ / "models";
  fs::create_directories(models);
  fs::create_symlink("/dev/full", models / "metrics.csv");
  const fs::path cfg = tiny_training_config(4, 10);
  Result r = run("'" + cfg.string() + "'");
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("cannot write to " + (models / "metrics.csv").string() + " (disk full?)"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("log_dir"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stage 4 10%: 1 step/10 step"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("(done)", r.output.find("stage train: starting")), std::string::npos) << r.output;
}

// LibTorch's ~0.5 s of static initialisation is paid only by runs that train or sample: a load_data
// run (and one whose load_data fails before training) never loads it (the dynamic loader's own log).
TEST_F(Cli, RunsThatDoNotTrainOrSampleNeverLoadLibTorch) {
  fs::create_directories(dir_ / "pdfs");
  fs::copy_file(fixtures() / "pdfs" / "R-data.pdf", dir_ / "pdfs" / "R-data.pdf");
  const std::string common = "download_pdf: False\npdf_directory: " + (dir_ / "pdfs").string() +
                             "\ndata_hdf5: " + (dir_ / "pages.h5").string() + "\ndata_output_size: 8\n";
  Result load_only = run("'" + write("load.yaml", "load_data: True\ntrain: False\n" + common).string() + "'",
                         "LD_DEBUG=files ");
  EXPECT_EQ(load_only.status, 0) << load_only.output;
  EXPECT_NE(load_only.output.find("libpoppler"), std::string::npos) << "no loader log:\n" << load_only.output;
  EXPECT_EQ(load_only.output.find("libtorch"), std::string::npos) << load_only.output;
  EXPECT_EQ(load_only.output.find("libdeepzine_torch_stages"), std::string::npos) << load_only.output;
  // Training selected, but load_data fails first (no PDFs): LibTorch is still never loaded.
  fs::create_directories(dir_ / "empty");
  Result failed = run("'" + write("fail.yaml", "load_data: True\ntrain: True\noverwrite: True\ndownload_pdf: False\n"
                                               "pdf_directory: " + (dir_ / "empty").string() + "\ndata_hdf5: " +
                                               (dir_ / "other.h5").string() + "\n").string() + "'",
                      "LD_DEBUG=files ");
  EXPECT_EQ(failed.status, 3) << failed.output;
  EXPECT_EQ(failed.output.find("libtorch"), std::string::npos) << failed.output;
}

TEST_F(Cli, NoStageEnabledIsAWarningNotAFailure) {
  fs::path cfg = write("c.yaml", "train: False\n");
  Result r = run("'" + cfg.string() + "'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("no stage is enabled"), std::string::npos) << r.output;
}

TEST_F(Cli, ShippedPretrainedModelSamplesOutOfTheBox) {
  const std::string src = std::getenv("DEEPZINE_SOURCE_DIR");
  const fs::path out = dir_ / "pretrained_output";
  auto r = deepzine::testing_support::shell("cd '" + src + "' && '" + std::getenv("DEEPZINE_BINARY") +
                                            "' config_pretrained.yaml --set inference_output_directory='" +
                                            out.string() +
                                            "' --set inference_output_num=4 --set interpolation_frames=3 --set device=cpu");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "inference_00003.png"));
  EXPECT_TRUE(fs::exists(out / "inference_contact_sheet.png"));
  EXPECT_TRUE(fs::exists(out / "interpolation_00011.png"));  // (5 - 1) x 3 frames
  EXPECT_TRUE(fs::exists(out / "interpolation.mp4") || fs::exists(out / "interpolation.avi"));
  std::ifstream index(out / "index.html");
  const std::string html((std::istreambuf_iterator<char>(index)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("inference_contact_sheet.png"), std::string::npos) << html;
  EXPECT_NE(html.find("<video src=\"interpolation."), std::string::npos) << html;
  EXPECT_NE(html.find("pretrained_models/64"), std::string::npos) << html;
}

// A short run through the executable writes log_dir/report.html; --report rebuilds it without training.
TEST_F(Cli, TrainingWritesTheReportAndReportRebuildsIt) {
  fs::create_directories(dir_ / "pdfs");
  int copied = 0;
  for (const auto& e : fs::directory_iterator(fixtures() / "pdfs")) {
    const bool scanned = e.path().filename().string().rfind("scanned", 0) == 0;  // slow to render
    if (e.path().extension() == ".pdf" && !scanned && copied < 2) {
      fs::copy_file(e.path(), dir_ / "pdfs" / e.path().filename());
      ++copied;
    }
  }
  const fs::path models = dir_ / "models";
  fs::path cfg = write("cfg.yaml", "load_data: True\ntrain: True\ndownload_pdf: False\npdf_directory: " +
                                       (dir_ / "pdfs").string() + "\ndata_hdf5: " + (dir_ / "pages.h5").string() +
                                       "\ndata_output_size: 16\ndevice: cpu\nrandom_seed: 3\nlog_dir: " +
                                       models.string() + "\nsamples_dir: " + (dir_ / "samples").string() +
                                       "\ngan_output_size: 8\nlatent_size: 16\nmax_filter: 16\nbatch_size: 4\n"
                                       "iterations_per_stage: 10\nmodel_sample_interval_steps: 5\n"
                                       "model_loss_output_interval_steps: 5\nswd_image_num: 16\n");
  Result r = run("'" + cfg.string() + "'");
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(models / "report.html"));
  EXPECT_TRUE(fs::exists(models / "report_files" / "8_000010_fake.png"));
  fs::remove(models / "report.html");
  r = run("'" + cfg.string() + "' --report");
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(models / "report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<b>Finished</b>: 30 steps"), std::string::npos);
  EXPECT_NE(html.find("8_Transition"), std::string::npos);
  EXPECT_EQ(files_under(dir_ / "home"), 0u);
  // Nothing to report on: the error names log_dir and what it is for.
  r = run("'" + cfg.string() + "' --report --set log_dir=" + (dir_ / "nowhere").string());
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("log_dir " + (dir_ / "nowhere").string() + " is not a folder"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
}
