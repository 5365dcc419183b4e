#pragma once
// Every refusal of a page file reads "dataset FILE: what; what to do". HDF5-free: the reading
// process (row_reader, page_map) and the probe's child (page_map_builder, chunk_index, checks) use it.
#include <filesystem>
#include <stdexcept>
#include <string>

namespace deepzine::data {

inline std::runtime_error dataset_error(const std::filesystem::path& file, const std::string& what) {
  return std::runtime_error("dataset " + file.string() + ": " + what);
}

}  // namespace deepzine::data
