// Reads a page file's metadata with HDF5, checks it, and answers its page map (page_map.h). Runs in the
// probe's child (hdf5_probe.h): the only code that lets HDF5 read a page file for training.
#pragma once

#include <H5Cpp.h>

#include <filesystem>
#include <string>

#include "page_map.h"

namespace deepzine::data {

// The levels, the page count (checked on every level and against the root attributes), the colour
// counts, and for `resolution` > 0 where that level's pages lie (its stores, every chunk located, the
// page index read and checked). Throws std::runtime_error naming the file and what is wrong; every HDF5
// failure becomes one.
PageMap build_page_map(const std::filesystem::path& file, int resolution);

// How chunks are located: by reading the dataset's chunk index in one pass (chunk_index.h), where it
// is a version-1 B-tree, else with HDF5 one chunk at a time; or always with HDF5 (the tests' oracle).
enum class ChunkLookup { kIndexFirst, kHdf5Only };

// Where the rows of one rank 1-4 dataset lie: type, layout, filters and each chunk's place, checked to
// be something RowReader reads (a refusal names the file, `name` and what to do).
StoreMap describe_store(const H5::DataSet& ds, const std::string& name, const std::filesystem::path& file,
                        ChunkLookup lookup = ChunkLookup::kIndexFirst);

}  // namespace deepzine::data
