#pragma once
// PDFs of a folder → pages → HDF5, rendered on all cores, written by one thread in a deterministic
// order (files sorted by path, pages in order) with bounded memory.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace deepzine::pages {

struct BuildOptions {
  std::filesystem::path pdf_directory;              // searched recursively for *.pdf
  std::filesystem::path output_file;                // the HDF5; built as a temporary, renamed at the end
  std::optional<std::filesystem::path> image_directory;  // each page also as PNG at max_size
  int max_size = 1024;
  int channels = 3;
  std::string page_fit = "stretch";
  bool compact_grey_pages = true;  // pages with three equal channels stored once (PageLayout)
  int workers = 0;             // render processes; 0: all cores
  // Seconds one PDF may take to open, or one page to render, before its worker process is killed and
  // the file or page is reported and skipped (a crash is reported and skipped the same way).
  double page_timeout = 120;
  int pages_per_task = 4;      // pages one worker renders from one opened document at a time
  // Pages are committed in segments of about this many pages (<output>.parts/), so a killed build
  // resumes after its last committed segment instead of starting over.
  int segment_pages = 512;
};

struct BuildSummary {
  int64_t files = 0, files_skipped = 0, pages = 0, pages_failed = 0;
  int64_t pages_resumed = 0;  // of `pages`, taken from segments an interrupted earlier run committed
  std::vector<std::string> problems;  // "file: reason" / "file#page: reason"
  double seconds = 0;
};

// Throws std::runtime_error when nothing can be written (no PDFs at all, output folder unwritable).
BuildSummary build_dataset(const BuildOptions& options);

// All *.pdf (any case) under `dir`, sorted, skipping temporary downloads. Broken or looping symbolic
// links and second names of a file already listed are left out, each logged and added to `problems`.
std::vector<std::filesystem::path> find_pdfs(const std::filesystem::path& dir, std::vector<std::string>* problems = nullptr);

}  // namespace deepzine::pages
