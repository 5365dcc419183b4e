// Pages stored in chunk layouts other than load_data's one-page-per-chunk (the original DeepZine's
// PyTables files, other writers) are read by data::RowReader, which decodes chunks itself: every layout
// reads back the stored pixels, and damaged chunks that made HDF5 1.10 overrun its buffers (found by
// fuzz/fuzz_page_file) are refused by name (issue #14).
#include <gtest/gtest.h>

#include <H5Cpp.h>
#include <hdf5.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "deepzine/data/page_dataset.h"
#include "deepzine/pages/dataset_writer.h"
#include "page_map_builder.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace deepzine;
using deepzine::testing_support::TempDir;

namespace {

constexpr int kPages = 10, kSize = 8;

// Channel 0 of pixel (0, 0) is page * 31 mod 256, which identifies the page in a batch.
uint8_t value(int page, int y, int x, int ch) { return static_cast<uint8_t>((page * 31 + y * 3 + x * 5 + ch * 11) % 256); }

struct Layout {
  std::string label;
  std::vector<hsize_t> chunk;  // empty: contiguous
  bool shuffle = false;
  int deflate = 0;  // level; 0: none
  H5::PredType type = H5::PredType::NATIVE_UINT8;
  int channels = 3;
};

H5::DSetCreatPropList creation(const Layout& layout) {
  H5::DSetCreatPropList props;
  if (layout.chunk.empty()) return props;
  props.setChunk(4, layout.chunk.data());
  if (layout.shuffle) props.setShuffle();
  if (layout.deflate > 0) props.setDeflate(layout.deflate);
  return props;
}

// A file whose data_8 (kPages RGB pages) is created with `props` and never written.
void create_unwritten_data8(const fs::path& file, const H5::DSetCreatPropList& props) {
  H5::H5File f(file.string(), H5F_ACC_TRUNC);
  const hsize_t dims[4] = {kPages, kSize, kSize, 3};
  f.createDataSet("data_8", H5::PredType::NATIVE_UINT8, H5::DataSpace(4, dims), props);
}

// A format-1 file (data_8 is the store, as the original's) of kPages pages in `layout`.
void write_format1(const fs::path& file, const Layout& layout) {
  H5::H5File f(file.string(), H5F_ACC_TRUNC);
  const int c = layout.channels;
  const hsize_t dims[4] = {kPages, kSize, kSize, hsize_t(c)};
  H5::DataSet ds = f.createDataSet("data_8", layout.type, H5::DataSpace(4, dims), creation(layout));
  std::vector<float> px(static_cast<size_t>(kPages * kSize * kSize * c));
  for (int i = 0; i < kPages; ++i)
    for (int y = 0; y < kSize; ++y)
      for (int x = 0; x < kSize; ++x)
        for (int ch = 0; ch < c; ++ch) px[((i * kSize + y) * kSize + x) * c + ch] = value(i, y, x, ch);
  if (layout.type.getClass() == H5T_FLOAT) {
    for (float& v : px) v = v / 127.5f - 1.0f;  // the original's floats in [-1, 1]
    ds.write(px.data(), H5::PredType::NATIVE_FLOAT);
  } else {
    std::vector<uint8_t> bytes(px.begin(), px.end());
    ds.write(bytes.data(), H5::PredType::NATIVE_UINT8);
  }
}

// A format-2 file as load_data writes it (grey and RGB stores, page index, virtual views) of kPages
// colour pages of value().
void write_format2(const fs::path& file) {
  pages::PageLayout layout;
  layout.max_size = kSize;
  pages::DatasetWriter writer(file, layout);
  for (int i = 0; i < kPages; ++i) {
    std::vector<pages::PageImage> pyramid;
    for (int s = kSize; s >= 4; s /= 2) {
      pages::PageImage img{s, 3, std::vector<uint8_t>(static_cast<size_t>(s * s * 3))};
      for (int y = 0; y < s; ++y)
        for (int x = 0; x < s; ++x)
          for (int ch = 0; ch < 3; ++ch) img.pixels[(y * s + x) * 3 + ch] = value(i, y, x, ch);
      pyramid.push_back(std::move(img));
    }
    writer.append(pyramid, "doc.pdf#" + std::to_string(i + 1));
  }
  writer.close();
}

// Reads one epoch in one batch and checks every pixel of every page (grey files: channel 0 only).
void expect_stored_pixels(const fs::path& file, int channels, const std::string& label) {
  data::PageDatasetOptions o;
  o.file = file;
  o.resolution = kSize;
  o.batch_size = kPages;
  data::PageDataset dataset(o);
  torch::Tensor batch = dataset.next_batch();
  ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{kPages, channels, kSize, kSize})) << label;
  auto a = batch.accessor<float, 4>();
  std::set<int> seen;
  for (int k = 0; k < kPages; ++k) {
    const int page = static_cast<int>(std::lround((a[k][0][0][0] + 1.0f) * 127.5f)) * 223 % 256;  // 223 = 31^-1 mod 256
    ASSERT_LT(page, kPages) << label;
    seen.insert(page);
    for (int ch = 0; ch < channels; ++ch)
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x)
          ASSERT_NEAR(a[k][ch][y][x], value(page, y, x, ch) / 127.5f - 1.0f, 1e-6) << label << " page " << page;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kPages)) << label;
}

// The error of opening `file` and reading a batch (a test failure, and "", if it reads).
std::string read_error(const fs::path& file) {
  try {
    data::PageDatasetOptions o;
    o.file = file;
    o.resolution = kSize;
    o.batch_size = kPages;
    data::PageDataset dataset(o);
    dataset.next_batch();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "read " << file;
  return "";
}

// Reading `file` fails with an error naming it and containing every one of `reasons`.
void expect_refused(const fs::path& file, std::initializer_list<std::string> reasons) {
  const std::string what = read_error(file);
  EXPECT_NE(what.find(file.string()), std::string::npos) << what;
  for (const std::string& reason : reasons) EXPECT_NE(what.find(reason), std::string::npos) << reason << " in: " << what;
}

}  // namespace

// Chunks of several pages, of part of a page, of part of the channels, edge chunks hanging over the
// extent, unfiltered, shuffled, deflated, float32 in both byte orders: all read back exactly.
TEST(ChunkedPages, EveryChunkLayoutReadsTheStoredPixels) {
  TempDir dir;
  const std::vector<Layout> layouts = {
      {"contiguous", {}, false, 0},
      {"unfiltered page chunks", {1, 8, 8, 3}, false, 0},
      {"unfiltered quarter pages", {1, 4, 4, 3}, false, 0},
      {"deflated tiles of two pages", {2, 3, 5, 1}, true, 4},
      {"deflated stacks of four pages", {4, 8, 8, 3}, false, 6},
      {"two of three channels", {3, 8, 3, 2}, true, 1},
      {"grey, shuffled only", {5, 2, 8, 1}, true, 0, H5::PredType::NATIVE_UINT8, 1},
      {"float32 little-endian (PyTables)", {1, 8, 8, 3}, true, 5, H5::PredType::IEEE_F32LE},
      {"float32 big-endian tiles", {3, 4, 8, 1}, true, 5, H5::PredType::IEEE_F32BE},
      {"float32 big-endian unfiltered", {2, 8, 8, 3}, false, 0, H5::PredType::IEEE_F32BE},
  };
  for (const Layout& layout : layouts) {
    const fs::path file = dir / "pages.h5";
    write_format1(file, layout);
    expect_stored_pixels(file, layout.channels, layout.label);
    fs::remove(file);
  }
}

// HDF5 addresses count from the superblock: a file with a user block before it (h5py's userblock_size,
// PyTables' too) has its chunks further in than their addresses say.
TEST(ChunkedPages, FilesWithAUserBlockRead) {
  TempDir dir;
  const fs::path file = dir / "user_block.h5";
  {
    H5::FileCreatPropList creation;
    creation.setUserblock(1024);
    H5::H5File f(file.string(), H5F_ACC_TRUNC, creation);
    const hsize_t dims[4] = {kPages, kSize, kSize, 3}, chunk[4] = {2, 4, 8, 3};
    H5::DSetCreatPropList props;
    props.setChunk(4, chunk);
    props.setDeflate(6);
    H5::DataSet ds = f.createDataSet("data_8", H5::PredType::NATIVE_UINT8, H5::DataSpace(4, dims), props);
    std::vector<uint8_t> px(static_cast<size_t>(kPages * kSize * kSize * 3));
    for (int i = 0; i < kPages; ++i)
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x)
          for (int ch = 0; ch < 3; ++ch) px[((i * kSize + y) * kSize + x) * 3 + ch] = value(i, y, x, ch);
    ds.write(px.data(), H5::PredType::NATIVE_UINT8);
  }
  expect_stored_pixels(file, 3, "1 KB user block");
}

// A format-2 file whose colour store is not one deflated page per chunk is read through its page index
// (pages/kind, pages/row), as the fast path does, not through the virtual view; an index of another
// integer type is converted.
TEST(ChunkedPages, FormatTwoStoresOfOtherLayoutsAreReadThroughTheIndex) {
  TempDir dir;
  const fs::path file = dir / "pages.h5";
  write_format2(file);
  {  // rewrite pages/rgb_8 in chunks of two pages, shuffled and deflated, same pixels
    H5::H5File f(file.string(), H5F_ACC_RDWR);
    const std::string store = "pages/rgb_" + std::to_string(kSize);
    H5::DataSet old = f.openDataSet(store);
    H5::DataSpace space = old.getSpace();
    hsize_t dims[4];
    space.getSimpleExtentDims(dims);
    std::vector<uint8_t> px(static_cast<size_t>(space.getSimpleExtentNpoints()));
    old.read(px.data(), H5::PredType::NATIVE_UINT8);
    f.unlink(store);
    H5::DSetCreatPropList props;
    const hsize_t chunk[4] = {2, 4, 8, 3};
    props.setChunk(4, chunk);
    props.setShuffle();
    props.setDeflate(3);
    f.createDataSet(store, H5::PredType::NATIVE_UINT8, space, props).write(px.data(), H5::PredType::NATIVE_UINT8);
    // and pages/row as big-endian int32 in chunks of three, shuffled: converted in memory when read
    H5::DataSet rows = f.openDataSet("pages/row");
    std::vector<int64_t> row(kPages);
    rows.read(row.data(), H5::PredType::NATIVE_INT64);
    H5::DataSpace row_space = rows.getSpace();
    f.unlink("pages/row");
    H5::DSetCreatPropList row_props;
    const hsize_t row_chunk = 3;
    row_props.setChunk(1, &row_chunk);
    row_props.setShuffle();
    row_props.setDeflate(1);
    f.createDataSet("pages/row", H5::PredType::STD_I32BE, row_space, row_props).write(row.data(), H5::PredType::NATIVE_INT64);
  }
  expect_stored_pixels(file, 3, "format 2, rgb store in two-page chunks, int32 BE row index");
}

// Compact data (stored in the object header, up to 64 KB) comes in the page map and contiguous data
// is read at its address: a compact float32 big-endian data_8; a format-2 file whose colour store is
// contiguous and whose index is compact, pages/kind as uint16 big-endian and pages/row as
// uint32 (converted, saturating, as HDF5 converts).
TEST(ChunkedPages, CompactAndContiguousStoresAndIndexesRead) {
  TempDir dir;
  {
    const fs::path file = dir / "compact.h5";
    H5::H5File f(file.string(), H5F_ACC_TRUNC);
    const hsize_t dims[4] = {kPages, kSize, kSize, 3};
    H5::DSetCreatPropList props;
    props.setLayout(H5D_COMPACT);
    std::vector<float> px(static_cast<size_t>(kPages * kSize * kSize * 3));
    for (int i = 0; i < kPages; ++i)
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x)
          for (int ch = 0; ch < 3; ++ch) px[((i * kSize + y) * kSize + x) * 3 + ch] = value(i, y, x, ch) / 127.5f - 1.0f;
    f.createDataSet("data_8", H5::PredType::IEEE_F32BE, H5::DataSpace(4, dims), props).write(px.data(), H5::PredType::NATIVE_FLOAT);
  }
  expect_stored_pixels(dir / "compact.h5", 3, "compact float32 big-endian");
  const fs::path file = dir / "format2.h5";
  write_format2(file);
  {
    H5::H5File f(file.string(), H5F_ACC_RDWR);
    const std::string store = "pages/rgb_" + std::to_string(kSize);
    H5::DataSet old = f.openDataSet(store);
    H5::DataSpace space = old.getSpace();
    std::vector<uint8_t> px(static_cast<size_t>(space.getSimpleExtentNpoints()));
    old.read(px.data(), H5::PredType::NATIVE_UINT8);
    f.unlink(store);
    hsize_t dims[4];
    space.getSimpleExtentDims(dims);  // fixed: the writer's stores may grow, a contiguous one may not
    f.createDataSet(store, H5::PredType::NATIVE_UINT8, H5::DataSpace(4, dims)).write(px.data(), H5::PredType::NATIVE_UINT8);
    for (const auto& [name, type] : {std::make_pair(std::string("pages/kind"), H5::PredType::STD_U16BE),
                                     std::make_pair(std::string("pages/row"), H5::PredType::STD_U32LE)}) {
      H5::DataSet index = f.openDataSet(name);
      std::vector<int64_t> values(kPages);
      index.read(values.data(), H5::PredType::NATIVE_INT64);
      f.unlink(name);
      H5::DSetCreatPropList compact;
      compact.setLayout(H5D_COMPACT);
      const hsize_t entries = kPages;
      f.createDataSet(name, type, H5::DataSpace(1, &entries), compact).write(values.data(), H5::PredType::NATIVE_INT64);
    }
  }
  expect_stored_pixels(file, 3, "format 2, contiguous rgb store, compact uint16 BE / uint32 index");
  {  // a kind of 259 saturates to 255 (as HDF5's conversion would) and is refused as no kind
    H5::H5File f(file.string(), H5F_ACC_RDWR);
    H5::DataSet kind = f.openDataSet("pages/kind");
    std::vector<uint16_t> kinds(kPages);
    kind.read(kinds.data(), H5::PredType::NATIVE_UINT16);
    kinds[4] = 259;
    kind.write(kinds.data(), H5::PredType::NATIVE_UINT16);
  }
  expect_refused(file, {"pages/kind of page 4 is 255 (expected 1 or 3)"});
}

// Found by fuzz/fuzz_page_file (session 12's long run): data_8 is chunked (1, 8, 8, 1) without filters,
// but its index gives the chunks 75 bytes for 64, one at an address far past the end of the 11 KB
// file. HDF5's H5Dread copied past its buffer (heap-buffer-overflow in H5VM_memcpyvv). Refused.
TEST(ChunkedPages, FuzzFoundUnfilteredChunkOfTheWrongSizeIsRefused) {
  const fs::path file = fs::path(DEEPZINE_TEST_DATA_DIR) / "fuzz_unfiltered_chunk_overread.h5";
  // Its chunk of row 2 was never written: the page map, which locates every chunk when the file is
  // opened, refuses it before the 75-byte claim is met (such a claim, made by a file of its own:
  // DamagedIndexChunksAreRefusedByName).
  expect_refused(file, {"data_8 has no data stored for the chunk holding row 2 (never written)"});
}

// The same class with filters: a deflated chunk whose stream inflates to fewer bytes than the chunk
// (HDF5 overran its buffer on it, under the sanitizer) or to more, and a chunk never written.
TEST(ChunkedPages, ChunksThatDoNotInflateToTheirSizeAreRefused) {
  TempDir dir;
  const Layout tiles{"quarter pages", {1, 4, 4, 3}, false, 6};
  for (size_t stream_bytes : {size_t(5), size_t(400)}) {
    const fs::path file = dir / ("inflates_" + std::to_string(stream_bytes) + ".h5");
    write_format1(file, tiles);
    {
      H5::H5File f(file.string(), H5F_ACC_RDWR);
      H5::DataSet ds = f.openDataSet("data_8");
      std::vector<uint8_t> plain(stream_bytes, 7), packed(compressBound(stream_bytes));
      uLongf packed_bytes = packed.size();
      ASSERT_EQ(compress(packed.data(), &packed_bytes, plain.data(), plain.size()), Z_OK);
      const hsize_t offset[4] = {6, 4, 0, 0};
      ASSERT_GE(H5Dwrite_chunk(ds.getId(), H5P_DEFAULT, 0, offset, packed_bytes, packed.data()), 0);
    }
    expect_refused(file, {"data_8 holds the chunk holding row 6 that does not inflate to its 48 bytes"});
  }
  const fs::path sparse = dir / "sparse.h5";
  H5::DSetCreatPropList props = creation(tiles);
  props.setAllocTime(H5D_ALLOC_TIME_INCR);
  create_unwritten_data8(sparse, props);
  expect_refused(sparse, {"data_8 has no data stored for the chunk holding row 0 (never written)"});
}

// A filter the reader does not undo (HDF5 would, or would need a plugin) is refused by name, not
// handed to HDF5's chunk decoding.
TEST(ChunkedPages, FiltersTheReaderDoesNotUndoAreRefusedByName) {
  TempDir dir;
  const fs::path file = dir / "fletcher.h5";
  H5::DSetCreatPropList props;
  const hsize_t chunk[4] = {1, kSize, kSize, 3};
  props.setChunk(4, chunk);
  props.setFletcher32();
  create_unwritten_data8(file, props);
  expect_refused(file, {"data_8 is stored with the HDF5 filter", "(id 3), which deepzine does not read"});
}

// The page index (pages/kind, pages/row) is chunked and deflated too, and read by the same reader: an
// index chunk whose stored size is not its chunk's, or that inflates short, is refused by name.
TEST(ChunkedPages, DamagedIndexChunksAreRefusedByName) {
  TempDir dir;
  struct Case {
    std::string index;
    int deflate;
    size_t bytes;  // unfiltered: stored bytes; deflated: bytes the stream inflates to
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"pages/row", 0, 75, "pages/row claims 75 stored bytes for the chunk holding row 4 of 32 bytes"},
      {"pages/kind", 1, 3, "pages/kind holds the chunk holding row 4 that does not inflate to its 4 bytes"},
  };
  for (const Case& c : cases) {
    const fs::path file = dir / "index.h5";
    write_format2(file);
    {
      H5::H5File f(file.string(), H5F_ACC_RDWR);
      H5::DataSet old = f.openDataSet(c.index);
      const H5::DataType type = old.getDataType();
      const H5::DataSpace space = old.getSpace();
      std::vector<uint8_t> values(static_cast<size_t>(space.getSimpleExtentNpoints()) * type.getSize());
      old.read(values.data(), type);
      f.unlink(c.index);
      H5::DSetCreatPropList props;
      const hsize_t chunk = 4;
      props.setChunk(1, &chunk);
      if (c.deflate > 0) props.setDeflate(c.deflate);
      H5::DataSet ds = f.createDataSet(c.index, type, space, props);
      ds.write(values.data(), type);
      std::vector<uint8_t> payload(c.bytes, 1), packed(compressBound(c.bytes));
      uLongf packed_bytes = static_cast<uLongf>(c.bytes);
      if (c.deflate > 0) {
        packed_bytes = packed.size();
        ASSERT_EQ(compress(packed.data(), &packed_bytes, payload.data(), payload.size()), Z_OK);
      } else {
        packed = payload;
      }
      const hsize_t offset[1] = {4};
      ASSERT_GE(H5Dwrite_chunk(ds.getId(), H5P_DEFAULT, 0, offset, packed_bytes, packed.data()), 0);
    }
    expect_refused(file, {c.reason});
    fs::remove(file);
  }
}

// The original DeepZine's own files, written as its download_internet_archive.py writes them (PyTables
// earrays of float32 in [-1, 1], blosc level 5, chunks PyTables sizes for the rows it expects: 85 rows
// of 8x8 pages in a file of 10), read back pixel for pixel; zlib-compressed PyTables files too.
TEST(ChunkedPages, TheOriginalDeepZinesPyTablesFilesRead) {
  TempDir dir;
  for (const std::string complib : {"blosc", "zlib"}) {
    const fs::path file = dir / ("original_" + complib + ".h5");
    const std::string script =
        "import numpy as np, tables\n"
        "h5 = tables.open_file('" + file.string() + "', mode='w')\n"
        "filters = tables.Filters(complevel=5, complib='" + complib + "')\n"
        "names = h5.create_earray(h5.root, 'imagenames', tables.StringAtom(256), shape=(0, 1), filters=filters, expectedrows=10)\n"
        "n, y, x, c = np.meshgrid(np.arange(10), np.arange(8), np.arange(8), np.arange(3), indexing='ij')\n"
        "pages = ((n * 31 + y * 3 + x * 5 + c * 11) % 256).astype(np.float64)\n"
        "for s in (4, 8):\n"
        "    a = h5.create_earray(h5.root, 'data_%d' % s, tables.Float32Atom(), shape=(0, s, s, 3), filters=filters, expectedrows=10)\n"
        "    for page in pages:\n"
        "        a.append(page[np.newaxis, :s, :s] / 127.5 - 1)\n"
        "assert h5.root.data_8.chunkshape[0] > 10, h5.root.data_8.chunkshape\n"
        "h5.close()\n";
    const fs::path py = dir / "write_original.py";
    {
      std::ofstream out(py);
      out << script;
    }
    ASSERT_EQ(std::system(("/usr/bin/python3 " + py.string()).c_str()), 0) << "needs python3-tables (scripts/install_deps.sh)";
    expect_stored_pixels(file, 3, "original DeepZine, " + complib);
    if (complib != "blosc") continue;
    // Damaged blosc chunks (85 rows of 8x8x3 float32: 65280 bytes): cut short, and one whose header
    // claims another size, are refused.
    for (const bool cut : {true, false}) {
      const fs::path damaged = dir / (cut ? "blosc_cut.h5" : "blosc_resized.h5");
      fs::copy_file(file, damaged, fs::copy_options::overwrite_existing);
      {
        H5::H5File f(damaged.string(), H5F_ACC_RDWR);
        H5::DataSet ds = f.openDataSet("data_8");
        const hsize_t offset[4] = {0, 0, 0, 0};
        hsize_t bytes = 0;
        ASSERT_GE(H5Dget_chunk_storage_size(ds.getId(), offset, &bytes), 0);
        std::vector<uint8_t> chunk(bytes);
        uint32_t mask = 0;
        ASSERT_GE(H5Dread_chunk(ds.getId(), H5P_DEFAULT, offset, &mask, chunk.data()), 0);
        if (cut) chunk.resize(chunk.size() / 2);
        else chunk[4] ^= 0x40;  // the header's uncompressed size (bytes 4-7, little-endian)
        ASSERT_GE(H5Dwrite_chunk(ds.getId(), H5P_DEFAULT, mask, offset, chunk.size(), chunk.data()), 0);
      }
      expect_refused(damaged, {"data_8 holds the chunk holding row", "that does not decompress (blosc) to its 65280 bytes"});
    }
  }
}

// Found by fuzz/fuzz_page_file (session 13, in RowReader's first version): data_4's chunk index holds
// two entries for chunk (0, 0, 0, 0), and HDF5 answered 24 bytes to the size query, then read 25
// into the 24-byte buffer in H5Dread_chunk (heap-buffer-overflow). Chunk bytes are now read by
// RowReader itself, at the address and length of one lookup: the file reads or is refused by name.
TEST(ChunkedPages, FuzzFoundChunkIndexWithTwoAnswersIsReadWithinItsBuffer) {
  const fs::path file = fs::path(DEEPZINE_TEST_DATA_DIR) / "fuzz_chunk_index_two_answers.h5";
  data::PageDatasetOptions o;
  o.file = file;
  o.resolution = 4;
  o.batch_size = 3;
  try {
    data::PageDataset dataset(o);
    torch::Tensor batch = dataset.next_batch();
    ADD_FAILURE() << "read " << file << ": " << batch.sizes();
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file.string()), std::string::npos) << what;
    // The chunk index, read whole when the file is opened (src/data/chunk_index.h), lists a chunk
    // outside the extent.
    EXPECT_NE(what.find("data_4 has a chunk index entry outside its extent"), std::string::npos) << what;
  }
}

// Every chunked dataset of `file`, located by reading its chunk index in one pass and by HDF5's
// lookups one chunk at a time: the same chunks, addresses, sizes and filter masks. Returns how many
// chunks were compared.
size_t expect_index_agrees_with_hdf5(const fs::path& file, const std::string& label) {
  H5::H5File f(file.string(), H5F_ACC_RDONLY);
  std::vector<std::string> names;
  H5Ovisit(
      f.getId(), H5_INDEX_NAME, H5_ITER_NATIVE,
      [](hid_t, const char* name, const H5O_info_t* info, void* out) -> herr_t {
        if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  size_t compared = 0;
  for (const std::string& name : names) {
    H5::DataSet ds = f.openDataSet(name);
    if (ds.getCreatePlist().getLayout() != H5D_CHUNKED || ds.getSpace().getSimpleExtentNdims() > 4 ||
        ds.getTypeClass() == H5T_STRING) {
      continue;
    }
    const data::StoreMap walked = data::describe_store(ds, name, file, data::ChunkLookup::kIndexFirst);
    const data::StoreMap looked_up = data::describe_store(ds, name, file, data::ChunkLookup::kHdf5Only);
    EXPECT_EQ(walked.chunks.size(), looked_up.chunks.size()) << label << " " << name;
    for (size_t i = 0; i < std::min(walked.chunks.size(), looked_up.chunks.size()); ++i) {
      EXPECT_EQ(walked.chunks[i].address, looked_up.chunks[i].address) << label << " " << name << " chunk " << i;
      EXPECT_EQ(walked.chunks[i].bytes, looked_up.chunks[i].bytes) << label << " " << name << " chunk " << i;
      EXPECT_EQ(walked.chunks[i].filter_mask, looked_up.chunks[i].filter_mask) << label << " " << name << " chunk " << i;
    }
    compared += walked.chunks.size();
  }
  return compared;
}

// The page map reads chunk indexes itself (HDF5 1.10's lookups walk the whole index every time: N^2
// for N pages). Checked against HDF5 on what writes page files: HDF5's C++ API (every layout above,
// a user block), load_data (format 2), h5py with its default format, with the 1.8 format (version-2
// object headers), with the latest (layout version 4: HDF5 locates those), B-trees of several levels
// (5,000 chunks), edge chunks, a skipped filter; and PyTables (the original's files).
TEST(ChunkedPages, TheChunkIndexIsReadAsHdf5LocatesIt) {
  TempDir dir;
  size_t compared = 0;
  const std::vector<Layout> layouts = {
      {"unfiltered page chunks", {1, 8, 8, 3}, false, 0},
      {"deflated tiles of two pages", {2, 3, 5, 1}, true, 4},
      {"deflated stacks of four pages", {4, 8, 8, 3}, false, 6},
      {"float32 big-endian tiles", {3, 4, 8, 1}, true, 5, H5::PredType::IEEE_F32BE},
  };
  for (const Layout& layout : layouts) {
    const fs::path file = dir / "layout.h5";
    write_format1(file, layout);
    compared += expect_index_agrees_with_hdf5(file, layout.label);
  }
  const fs::path format2 = dir / "format2.h5";
  write_format2(format2);
  compared += expect_index_agrees_with_hdf5(format2, "format 2");
  const std::string script =
      "import numpy as np, h5py, tables\n"
      "d = '" + dir.path().string() + "/'\n"
      "pages = (np.arange(2500 * 8 * 8) % 251).astype(np.uint8).reshape(2500, 8, 8, 1)\n"
      "for name, libver in (('default', None), ('v108', ('v108', 'v108')), ('latest', 'latest')):\n"
      "    with h5py.File(d + name + '.h5', 'w', libver=libver) as f:\n"
      "        f.create_dataset('data_8', data=pages, chunks=(1, 8, 8, 1), compression='gzip')\n"
      "        f.create_dataset('data_4', data=pages[:, :4, :4], chunks=(1, 3, 3, 1), maxshape=(None, 4, 4, 1))\n"
      "        f['data_4'].attrs['note'] = np.zeros(4000, np.uint8)\n"
      "with h5py.File(d + 'skipped.h5', 'w') as f:\n"
      "    f.create_dataset('data_8', data=pages[:10], chunks=(1, 8, 8, 1), compression='gzip')\n"
      "    f['data_8'].id.write_direct_chunk((3, 0, 0, 0), pages[3].tobytes(), filter_mask=1)\n"
      "h5 = tables.open_file(d + 'pytables.h5', mode='w')\n"
      "a = h5.create_earray(h5.root, 'data_8', tables.Float32Atom(), shape=(0, 8, 8, 3), filters=tables.Filters(5, 'blosc'), expectedrows=10)\n"
      "for i in range(40): a.append(np.zeros((1, 8, 8, 3), np.float32) + i)\n"
      "h5.close()\n";
  const fs::path py = dir / "write.py";
  std::ofstream(py) << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + py.string()).c_str()), 0) << "needs python3-h5py and python3-tables";
  for (const std::string name : {"default", "v108", "latest", "skipped", "pytables"}) {
    compared += expect_index_agrees_with_hdf5(dir / (name + ".h5"), name);
  }
  EXPECT_GT(compared, 3u * 2 * 2500);
}
