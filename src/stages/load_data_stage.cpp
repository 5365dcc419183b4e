// load_data: (download PDFs from the Internet Archive,) render their pages into the HDF5 dataset.
// Original semantics: an existing data_hdf5 is reused unless overwrite is True.
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deepzine/archive/downloader.h"
#include "deepzine/pages/build.h"
#include "deepzine/pages/dataset_writer.h"
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"


namespace deepzine::stages {
namespace fs = std::filesystem;

int run_load_data(const config::Config& cfg) {
  const fs::path hdf5 = *cfg.data_hdf5;  // validated: required for load_data
  if (fs::exists(hdf5) && !cfg.overwrite) {
    // Reused only when it reads back whole: a file a full disk or a kill cut short is not "done".
    try {
      pages::verify_page_file(hdf5);
    } catch (const std::exception& e) {
      throw util::StageError(std::string("load_data: data_hdf5 ") + hdf5.string() +
                             " exists but is not a usable page file (" + e.what() +
                             "); set overwrite: True to rebuild it, or remove it");
    }
    spdlog::info("load_data: {} exists and overwrite is False: reusing it", hdf5.string());
    return util::kExitOk;
  }
  int status = util::kExitOk;
  const fs::path pdfs = *cfg.pdf_directory;
  if (cfg.download_pdf) {
    archive::DownloadOptions d;
    d.base_url = cfg.internetarchive_base_url;
    d.collection = cfg.internetarchive_collection;
    d.max_items = cfg.pdf_num;
    d.glob = cfg.download_glob;
    d.output_dir = pdfs;
    d.workers = cfg.download_workers;
    d.retries = cfg.download_retries;
    d.timeout_seconds = cfg.download_timeout;
    archive::DownloadSummary s = archive::download_collection(d);
    spdlog::info("downloads: {} downloaded, {} already present, {} failed", s.downloaded, s.skipped_present, s.failed);
    if (s.failed > 0) status = util::kExitPartialFailure;
  } else if (!fs::is_directory(pdfs)) {
    throw util::StageError("pdf_directory " + pdfs.string() +
                           " does not exist (create it and put PDFs there, or set download_pdf: True)");
  }
  if (!cfg.convert_pdf) return status;
  if (cfg.pdf_conversion_program != "pdftoppm") {
    spdlog::info("pdf_conversion_program '{}' is ignored: pages are rendered in process with poppler",
                 cfg.pdf_conversion_program);
  }
  pages::BuildOptions b;
  b.pdf_directory = pdfs;
  b.output_file = hdf5;
  b.image_directory = cfg.image_directory;
  b.max_size = cfg.data_output_size;
  b.channels = cfg.channels.value_or(3);  // None: RGB, grey pages stored once; training picks 1 or 3
  b.page_fit = cfg.page_fit;
  b.compact_grey_pages = cfg.compact_grey_pages;
  b.workers = cfg.load_workers;
  b.page_timeout = cfg.page_timeout;
  pages::BuildSummary s;
  try {
    s = pages::build_dataset(b);
  } catch (const std::exception& e) {
    throw util::StageError(std::string("load_data: ") + e.what());
  }
  spdlog::info("load_data: {} pages from {} PDF(s) written to {} in {:.1f} s ({:.1f} pages/s{}); {} file(s) and {} "
               "page(s) skipped",
               s.pages, s.files - s.files_skipped, hdf5.string(), s.seconds,
               (s.pages - s.pages_resumed) / std::max(1e-9, s.seconds),
               s.pages_resumed > 0 ? fmt::format(", {} resumed from an interrupted run", s.pages_resumed) : "",
               s.files_skipped, s.pages_failed);
  if (s.files_skipped > 0 || s.pages_failed > 0) status = util::kExitPartialFailure;
  return status;
}

}  // namespace deepzine::stages
