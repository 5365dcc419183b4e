#include "page_map.h"

#include "dataset_error.h"

#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace deepzine::data {
namespace {

// Written and read by the same executable (a forked child and its parent): native byte order.
constexpr uint32_t kMagic = 0x50474d31;  // "PGM1"

class Writer {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  template <class T>
  void put_vector(const std::vector<T>& values) {
    put<uint64_t>(values.size());
    out_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  void put_string(const std::string& text) {
    put<uint64_t>(text.size());
    out_ += text;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Every read is checked against what is left: a child that died mid-write leaves a short answer.
class Reader {
 public:
  Reader(const std::string& bytes, const std::filesystem::path& file) : bytes_(bytes), file_(file) {}
  template <class T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof value), sizeof value);
    return value;
  }
  template <class T>
  std::vector<T> get_vector() {
    const uint64_t count = get<uint64_t>();
    if (count > (bytes_.size() - at_) / sizeof(T)) fail();
    std::vector<T> values(count);
    if (count > 0) std::memcpy(values.data(), take(count * sizeof(T)), count * sizeof(T));
    return values;
  }
  std::string get_string() {
    const uint64_t length = get<uint64_t>();
    if (length > bytes_.size() - at_) fail();
    return std::string(take(length), length);
  }
  bool done() const { return at_ == bytes_.size(); }
  [[noreturn]] void fail() const {
    throw dataset_error(file_, "the page map of the file came back incomplete from the process that read it; try "
                               "again, and rebuild the file with load_data if it persists");
  }

 private:
  const char* take(size_t count) {
    if (count > bytes_.size() - at_) fail();
    const char* where = bytes_.data() + at_;
    at_ += count;
    return where;
  }
  const std::string& bytes_;
  const std::filesystem::path& file_;
  size_t at_ = 0;
};

void put_store(Writer& out, const StoreMap& store) {
  out.put_string(store.name);
  out.put<int32_t>(store.channels);
  out.put<int32_t>(store.rank);
  for (uint64_t d : store.dims) out.put(d);
  out.put(store.type.bytes);
  out.put<uint8_t>((store.type.is_float ? 1 : 0) | (store.type.is_signed ? 2 : 0) | (store.type.big_endian ? 4 : 0));
  out.put(static_cast<uint8_t>(store.layout));
  out.put(store.base_address);
  out.put(store.contiguous_address);
  out.put_vector(store.compact_bytes);
  for (uint64_t c : store.chunk) out.put(c);
  out.put_vector(store.filters);
  out.put_vector(store.chunks);
}

StoreMap get_store(Reader& in) {
  StoreMap store;
  store.name = in.get_string();
  store.channels = in.get<int32_t>();
  store.rank = in.get<int32_t>();
  for (uint64_t& d : store.dims) d = in.get<uint64_t>();
  store.type.bytes = in.get<uint8_t>();
  const auto traits = in.get<uint8_t>();
  store.type.is_float = traits & 1, store.type.is_signed = traits & 2, store.type.big_endian = traits & 4;
  const auto layout = in.get<uint8_t>();
  if (layout > static_cast<uint8_t>(StoreLayout::kChunked)) in.fail();
  store.layout = static_cast<StoreLayout>(layout);
  store.base_address = in.get<uint64_t>();
  store.contiguous_address = in.get<uint64_t>();
  store.compact_bytes = in.get_vector<uint8_t>();
  for (uint64_t& c : store.chunk) c = in.get<uint64_t>();
  store.filters = in.get_vector<uint16_t>();
  store.chunks = in.get_vector<ChunkLocation>();
  return store;
}

}  // namespace

std::string serialize(const PageMap& map) {
  Writer out;
  out.put(kMagic);
  out.put_vector(map.resolutions);
  out.put(map.pages);
  out.put(map.colours);
  out.put<int32_t>(map.resolution);
  out.put<int32_t>(map.channels);
  out.put<uint8_t>(map.is_float ? 1 : 0);
  out.put<uint64_t>(map.stores.size());
  for (const StoreMap& store : map.stores) put_store(out, store);
  out.put_vector(map.page_store);
  out.put_vector(map.page_row);
  return out.take();
}

PageMap deserialize_page_map(const std::string& bytes, const std::filesystem::path& file) {
  Reader in(bytes, file);
  if (in.get<uint32_t>() != kMagic) in.fail();
  PageMap map;
  map.resolutions = in.get_vector<int>();
  map.pages = in.get<int64_t>();
  map.colours = in.get<PageColoursCount>();
  map.resolution = in.get<int32_t>();
  map.channels = in.get<int32_t>();
  map.is_float = in.get<uint8_t>() != 0;
  const uint64_t stores = in.get<uint64_t>();
  if (stores > 2) in.fail();  // at most the grey and the RGB store
  for (uint64_t i = 0; i < stores; ++i) map.stores.push_back(get_store(in));
  map.page_store = in.get_vector<uint8_t>();
  map.page_row = in.get_vector<int64_t>();
  if (!in.done()) in.fail();
  return map;
}

}  // namespace deepzine::data
