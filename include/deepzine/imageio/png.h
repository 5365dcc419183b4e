#pragma once
// PNG files through libpng (small, no OpenCV: the training path must build on lean machines).
#include <cstdint>
#include <filesystem>
#include <vector>

namespace deepzine::imageio {

struct Image {
  int height = 0, width = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;              // row-major HWC
};

// Atomic (temp + rename). Throws std::runtime_error naming the path on failure.
void write_png(const std::filesystem::path& path, const uint8_t* hwc, int height, int width,
               int channels);
inline void write_png(const std::filesystem::path& path, const Image& image) {
  write_png(path, image.pixels.data(), image.height, image.width, image.channels);
}
// Reads 8-bit grey or RGB (alpha dropped, palettes expanded).
Image read_png(const std::filesystem::path& path);

// Tiles `count` images of size h×w×c (HWC, contiguous one after another) into a grid with `columns`
// columns and a `gap`-pixel white border.
Image tile_grid(const uint8_t* images, int count, int height, int width, int channels, int columns,
                int gap = 2);

}  // namespace deepzine::imageio
