#pragma once
// Checks of a page file's structure before the reader trusts it: a page file is untrusted input
// (downloaded, copied, half-written by a full disk). Every failure is a std::runtime_error
// "dataset FILE: what; what to do".
#include <H5Cpp.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "dataset_error.h"

namespace deepzine::data::checks {

// The most pages a file of this size can hold: every page of every level takes at least 8 bytes on
// disk (a deflated chunk's zlib header and checksum, or its share of a contiguous array). A file
// declaring more is damaged or hostile, and is refused before anything is sized by its claim.
uint64_t page_bound(const std::filesystem::path& file);

// The file's size in bytes (0 if it cannot be known).
uint64_t file_bytes(const std::filesystem::path& file);

// `name` (and each group on its path) is a hard link inside the file: no soft link (a loop) and no
// external link (another file).
void require_local_object(const H5::H5File& f, const std::string& name, const std::filesystem::path& file);

// require_local_object, and the object is a dataset (not a group).
void require_local_dataset(const H5::H5File& f, const std::string& name, const std::filesystem::path& file);

// Chunks no larger than the dataset (and 64 MiB), compact data as large as its extent claims.
void require_sane_layout(const H5::DataSet& ds, const std::string& name, const std::filesystem::path& file);

// A virtual dataset (the format-2 view) maps only datasets of this file.
void require_local_sources(const H5::DataSet& ds, const std::string& name, const std::filesystem::path& file);

// The root attributes this project writes, where present: format_version (1 or 2), channels (1 or
// 3), page_count (= `pages`, the first dimension of every data_<size>). Absent attributes are fine
// (the original DeepZine's files have none).
void check_attributes(const H5::H5File& f, const std::filesystem::path& file, int64_t pages);

}  // namespace deepzine::data::checks
