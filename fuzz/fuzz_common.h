#pragma once
// Shared by the libFuzzer targets: a scratch file per process for parsers that take a path.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace deepzine::fuzz {

// Writes `size` bytes to a fixed file of this process under $TMPDIR (or /tmp) and returns its path.
inline std::filesystem::path scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("deepzine_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {  // libFuzzer ends with exit(); a crash keeps the folder with the input
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("deepzine_fuzz_" + std::to_string(::getpid())), ec);
    });
    return d;
  }();
  const std::filesystem::path file = dir / name;
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return file;
}

}  // namespace deepzine::fuzz
