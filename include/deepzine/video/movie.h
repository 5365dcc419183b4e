#pragma once
// Movies and JPEG files through OpenCV (in process: no ffmpeg subprocess).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace deepzine::video {

// Writes frames (HWC uint8 RGB or grey) to `base_path` + an extension chosen by what the OpenCV build
// can encode: H.264 in .mp4 where available, else MPEG-4 Part 2 in .mp4, else Motion-JPEG in .avi.
// The file appears under its final name only after close() (temporary name + rename).
class MovieWriter {
 public:
  MovieWriter(const std::filesystem::path& base_path, int width, int height, double fps);
  ~MovieWriter();
  void add_frame(const uint8_t* hwc, int channels);
  // Returns the final path.
  std::filesystem::path close();
  const std::string& codec() const { return codec_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string codec_;
};

// JPEG (quality 95), atomic.
void write_jpeg(const std::filesystem::path& path, const uint8_t* hwc, int height, int width, int channels);

// Frame count and size of a movie file as OpenCV reads it (for tests and checks).
struct MovieInfo {
  int64_t frames = 0;
  int width = 0, height = 0;
};
MovieInfo probe_movie(const std::filesystem::path& path);

}  // namespace deepzine::video
