#pragma once
// Internet Archive collection download: scrape-API search (cursor paging), item metadata, parallel
// md5-verified downloads into pdf_directory/IDENTIFIER/FILENAME. A file is written under a temporary
// name and renamed only once its md5 matches, so a rerun (even after kill -9) fetches only what is
// missing; a file already present with the right md5 is skipped.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace deepzine::archive {

struct DownloadOptions {
  std::string base_url = "https://archive.org";
  std::string collection;                 // internetarchive_collection
  std::optional<int64_t> max_items;       // pdf_num (None: all)
  std::string glob = "*.pdf";             // download_glob; "*_bw.pdf" is always skipped
  std::filesystem::path output_dir;       // pdf_directory
  int workers = 4;                        // download_workers
  int retries = 5;                        // download_retries
  double timeout_seconds = 60;            // download_timeout: a transfer without data this long is retried
  double backoff_seconds = 1.0;           // first retry delay (doubles each time, with jitter)
  int search_page_size = 1000;            // items per scrape request
};

struct DownloadSummary {
  int64_t items = 0, files = 0, downloaded = 0, skipped_present = 0, failed = 0, bytes = 0;
  std::vector<std::string> failures;  // "IDENTIFIER/FILENAME: reason"
};

// Throws util::StageError when the search itself fails (bad collection, server error, error JSON).
DownloadSummary download_collection(const DownloadOptions& options);

// --- pieces, public for tests
struct Credentials {
  std::string access, secret;
  bool present() const { return !access.empty() && !secret.empty(); }
};
// IA_ACCESS_KEY / IA_SECRET_KEY, else ~/.config/internetarchive/ia.ini, else ~/.ia ([s3] access, secret).
Credentials load_credentials();

// True when `name` (an identifier, or a file name possibly with '/' subfolders) is safe to use as a
// relative path: not empty, not absolute, no "." or ".." components, no control characters or '\\'.
bool is_safe_relative_path(const std::string& name);

// fnmatch(3) glob on a file name (*, ?, [..]; '*' also matches '/').
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace deepzine::archive
