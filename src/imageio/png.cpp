#include "deepzine/imageio/png.h"

#include <png.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "deepzine/util/atomic_file.h"

namespace deepzine::imageio {

void write_png(const std::filesystem::path& path, const uint8_t* hwc, int height, int width,
               int channels) {
  if (channels != 1 && channels != 3) {
    throw std::invalid_argument("write_png " + path.string() + ": channels must be 1 or 3, got " +
                                std::to_string(channels));
  }
  if (height <= 0 || width <= 0) {
    throw std::invalid_argument("write_png " + path.string() + ": empty image");
  }
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  util::AtomicFile file(path);
  if (!png_image_write_to_file(&image, file.temp_path().c_str(), 0, hwc, 0, nullptr)) {
    throw std::runtime_error("cannot write PNG " + path.string() + ": " + image.message);
  }
  file.commit();
}

Image read_png(const std::filesystem::path& path) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    throw std::runtime_error("cannot read PNG " + path.string() + ": " + image.message);
  }
  const bool grey = (image.format & PNG_FORMAT_FLAG_COLOR) == 0;
  image.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image out;
  out.height = static_cast<int>(image.height);
  out.width = static_cast<int>(image.width);
  out.channels = grey ? 1 : 3;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    png_image_free(&image);
    throw std::runtime_error("cannot decode PNG " + path.string() + ": " + image.message);
  }
  return out;
}

Image tile_grid(const uint8_t* images, int count, int height, int width, int channels, int columns,
                int gap) {
  if (count <= 0 || columns <= 0) throw std::invalid_argument("tile_grid: nothing to tile");
  const int rows = (count + columns - 1) / columns;
  const int cols = std::min(columns, count);
  Image grid;
  grid.channels = channels;
  grid.height = rows * height + (rows + 1) * gap;
  grid.width = cols * width + (cols + 1) * gap;
  grid.pixels.assign(static_cast<size_t>(grid.height) * grid.width * channels, 255);
  const size_t row_bytes = static_cast<size_t>(width) * channels;
  for (int i = 0; i < count; ++i) {
    const int r = i / columns, c = i % columns;
    const uint8_t* src = images + static_cast<size_t>(i) * height * row_bytes;
    for (int y = 0; y < height; ++y) {
      uint8_t* dst = grid.pixels.data() +
                     (static_cast<size_t>(gap + r * (height + gap) + y) * grid.width +
                      gap + c * (width + gap)) * channels;
      std::memcpy(dst, src + y * row_bytes, row_bytes);
    }
  }
  return grid;
}

}  // namespace deepzine::imageio
