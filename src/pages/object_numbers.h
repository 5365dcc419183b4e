#pragma once
// The largest object number a PDF's text names ("N G obj"). When a PDF's cross-reference table is
// damaged, poppler rebuilds it from exactly these headers and sizes the table by the largest N: a
// 37 KB file naming object 21,000,000 makes it allocate 600 MB and scan the table on every lookup
// (found by fuzz_pdf). Checked before poppler opens the file.
#include <cstdint>
#include <filesystem>

namespace deepzine::pages {

// The largest N of any "N G obj" in the file (N of more than 18 digits counts as INT64_MAX); 0 when
// there is none, -1 when the file cannot be read (poppler's own open then reports it).
int64_t largest_object_number(const std::filesystem::path& file);

}  // namespace deepzine::pages
