// Locates every chunk of a chunked dataset by reading its chunk index (a version-1 B-tree) from the
// file, in one pass. Runs in the probe's child (page_map_builder).
#pragma once
//
// Why not HDF5: Debian's 1.10 has no H5Dchunk_iter, and H5Dget_chunk_info_by_coord walks the whole
// index from its start on every call, so locating N chunks that way takes N^2/2 steps (measured: 0.65 s
// for 10,000 pages, 9.2 s for 30,000, over 120 s for 100,000; the reader's old per-page lookup cost
// 2.7 ms a page at 100,000). h5py's and PyTables' files and this project's own use the version-1
// B-tree (HDF5's default file format); a file written with the latest format (layout message version 4:
// fixed or extensible arrays, version-2 B-trees) is located chunk by chunk with HDF5 instead.
#include <cstdint>
#include <filesystem>

#include "page_map.h"

namespace deepzine::data {

// Where the dataset's object header lies, and how the file encodes addresses and lengths.
struct ChunkIndexSource {
  int file_descriptor = -1;
  uint64_t file_bytes = 0;
  uint64_t base_address = 0;    // HDF5 addresses count from here
  uint64_t header_address = 0;  // the dataset's object header
  unsigned address_bytes = 8;   // the superblock's "size of offsets"
  unsigned length_bytes = 8;    // and "size of lengths"
};

// Fills store.chunks (the grid, row-major; store.dims, chunk and rank set) from the B-tree; a chunk
// the index does not list is left with address 0 and 0 bytes (never written). Returns false, touching
// nothing, when the dataset's layout message is not of version 3 (version 4 indexes chunks with
// fixed or extensible arrays or version-2 B-trees; versions 1 and 2 are HDF5 1.6's). Throws
// std::runtime_error naming `file` and the store when the header or the index is damaged: a node
// outside the file or of the wrong kind or level, a cycle, a chunk outside the grid, or two entries
// for one chunk.
bool read_btree_chunk_index(const ChunkIndexSource& source, StoreMap& store, const std::filesystem::path& file);

}  // namespace deepzine::data
