#include "deepzine/sample/npy.h"

#include <torch/torch.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "deepzine/util/atomic_file.h"
#include "deepzine/util/regular_file.h"

namespace deepzine::sample {
namespace {
std::runtime_error bad(const std::filesystem::path& f, const std::string& what) {
  return std::runtime_error("latent file " + f.string() + ": " + what +
                            " (expected a .npy float32 array [N, latent_size], e.g. numpy.save of "
                            "np.float32 values)");
}
}  // namespace

torch::Tensor read_npy(const std::filesystem::path& file) {
  // Regular files only (a FIFO or /dev/zero would block or read forever), at most 16 GiB.
  return parse_npy(util::read_regular_file(file, uint64_t(16) << 30, "latent file"), file);
}

torch::Tensor parse_npy(const std::string& bytes, const std::filesystem::path& file) {
  std::istringstream in(bytes);
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::string(magic, 6) != "\x93NUMPY") throw bad(file, "is not a .npy file");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    throw bad(file, "has an unknown .npy version " + std::to_string(major));
  }
  // numpy writes headers of a few hundred bytes (version 1 cannot exceed 64 KiB); a longer one is
  // refused before the regular expressions below walk it.
  if (!in || header_len > (1u << 16)) throw bad(file, "has a broken header");
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (!in) throw bad(file, "is truncated in its header");
  std::smatch m;
  // Compiled once: building a std::regex costs more than reading a small file.
  static const std::regex descr_re("'descr':\\s*'([<>|=]?)([fi])(\\d)'"), fortran_re("'fortran_order':\\s*True"),
      shape_re("'shape':\\s*\\((\\d{1,12}),\\s*(\\d{1,12}),?\\s*\\)");
  if (!std::regex_search(header, m, descr_re)) throw bad(file, "has no dtype");
  const std::string order = m[1], kind = m[2];
  const int width = std::stoi(m[3]);
  if (order == ">" || kind != "f" || (width != 4 && width != 8)) {
    throw bad(file, "holds " + std::string(m[0]) + " values, not little-endian float32/float64");
  }
  if (std::regex_search(header, fortran_re)) throw bad(file, "is in Fortran order");
  if (!std::regex_search(header, m, shape_re)) {
    throw bad(file, "is not a 2-D array");
  }
  // Each side at most 2^31 before the product is formed; the product bounded by what the file holds.
  const int64_t n = std::stoll(m[1]), l = std::stoll(m[2]);
  constexpr int64_t kSide = int64_t(1) << 31;
  if (n <= 0 || l <= 0 || n > kSide || l > kSide || n * l > kSide) {
    throw bad(file, "has an unusable shape (" + std::string(m[1]) + ", " + std::string(m[2]) + ")");
  }
  const int64_t data_bytes = static_cast<int64_t>(in.str().size()) - static_cast<int64_t>(in.tellg());
  if (n * l * width > data_bytes) {
    throw bad(file, "is truncated: its shape (" + std::to_string(n) + ", " + std::to_string(l) + ") needs " +
                        std::to_string(n * l * width) + " bytes of values, it has " + std::to_string(data_bytes));
  }
  torch::Tensor t = torch::empty({n, l}, width == 4 ? torch::kFloat32 : torch::kFloat64);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  if (!in) throw bad(file, "is truncated: fewer values than its shape says");
  torch::Tensor out = t.to(torch::kFloat32);
  if (!torch::isfinite(out).all().item<bool>()) throw bad(file, "contains NaN or infinite values");
  return out;
}

void write_npy(const std::filesystem::path& file, const torch::Tensor& array) {
  torch::Tensor t = array.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  TORCH_CHECK(t.dim() == 2, "write_npy: expected a 2-D tensor");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(t.size(0)) + ", " +
                       std::to_string(t.size(1)) + "), }";
  // Pad so that the data starts at a multiple of 64 bytes, newline-terminated (the .npy spec).
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>((header.size() >> 8) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel()) * sizeof(float));
  util::write_file_atomic(file, bytes);
}

}  // namespace deepzine::sample
