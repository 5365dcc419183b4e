#include "deepzine/video/movie.h"

#include <unistd.h>

#include <stdexcept>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "deepzine/util/atomic_file.h"

namespace deepzine::video {
namespace fs = std::filesystem;

struct MovieWriter::Impl {
  cv::VideoWriter writer;
  fs::path temp, final_path;
  int width = 0, height = 0;
  int64_t frames_added = 0;
  bool closed = false;
};

MovieWriter::MovieWriter(const fs::path& base_path, int width, int height, double fps) : impl_(std::make_unique<Impl>()) {
  impl_->width = width;
  impl_->height = height;
  if (base_path.has_parent_path()) fs::create_directories(base_path.parent_path());
  util::remove_stale_temporaries(base_path);  // "<base>.tmp-<pid>.<ext>" of a killed earlier run
  struct Choice {
    const char* fourcc;
    const char* ext;
    const char* name;
  };
  const Choice choices[] = {{"avc1", ".mp4", "H.264"}, {"mp4v", ".mp4", "MPEG-4"}, {"MJPG", ".avi", "Motion-JPEG"}};
  for (const auto& c : choices) {
    // The container comes from the extension, so the temporary name keeps it.
    fs::path temp = base_path;
    temp += std::string(".tmp-") + std::to_string(::getpid()) + c.ext;
    const int fourcc = cv::VideoWriter::fourcc(c.fourcc[0], c.fourcc[1], c.fourcc[2], c.fourcc[3]);
    if (impl_->writer.open(temp.string(), cv::CAP_FFMPEG, fourcc, fps, cv::Size(width, height), true)) {
      impl_->temp = temp;
      impl_->final_path = base_path;
      impl_->final_path += c.ext;
      codec_ = c.name;
      return;
    }
    std::error_code ec;
    fs::remove(temp, ec);
  }
  throw std::runtime_error("cannot write a movie at " + base_path.string() +
                           ": OpenCV has no usable video encoder (H.264, MPEG-4 or Motion-JPEG)");
}

MovieWriter::~MovieWriter() {
  if (!impl_->closed) {
    impl_->writer.release();
    std::error_code ec;
    fs::remove(impl_->temp, ec);
  }
}

void MovieWriter::add_frame(const uint8_t* hwc, int channels) {
  cv::Mat frame(impl_->height, impl_->width, channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t*>(hwc));
  cv::Mat bgr;
  cv::cvtColor(frame, bgr, channels == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_RGB2BGR);
  impl_->writer.write(bgr);
  ++impl_->frames_added;
}

// OpenCV's writer reports no write error (a full disk leaves a short or unreadable file), so the
// movie counts only once it reads back whole: every frame, at its size.
fs::path MovieWriter::close() {
  impl_->writer.release();
  MovieInfo written;
  try {
    written = probe_movie(impl_->temp);
  } catch (const std::exception&) {
  }
  if (written.frames != impl_->frames_added || written.width != impl_->width || written.height != impl_->height) {
    std::error_code ec;
    fs::remove(impl_->temp, ec);
    impl_->closed = true;
    throw std::runtime_error("the movie " + impl_->final_path.string() + " was not written whole (" +
                             std::to_string(written.frames) + " of " + std::to_string(impl_->frames_added) +
                             " frames read back; disk full?): free space in its folder and run the stage again");
  }
  impl_->closed = true;
  fs::rename(impl_->temp, impl_->final_path);
  return impl_->final_path;
}

void write_jpeg(const fs::path& path, const uint8_t* hwc, int height, int width, int channels) {
  cv::Mat img(height, width, channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t*>(hwc));
  cv::Mat out;
  if (channels == 3) cv::cvtColor(img, out, cv::COLOR_RGB2BGR); else out = img;
  std::vector<uchar> bytes;
  if (!cv::imencode(".jpg", out, bytes, {cv::IMWRITE_JPEG_QUALITY, 95})) {
    throw std::runtime_error("cannot encode JPEG " + path.string());
  }
  util::write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

MovieInfo probe_movie(const fs::path& path) {
  cv::VideoCapture cap(path.string());
  if (!cap.isOpened()) throw std::runtime_error("cannot open movie " + path.string());
  MovieInfo info;
  info.width = static_cast<int>(cap.get(cv::CAP_PROP_FRAME_WIDTH));
  info.height = static_cast<int>(cap.get(cv::CAP_PROP_FRAME_HEIGHT));
  cv::Mat frame;
  while (cap.read(frame)) ++info.frames;  // count decoded frames: container metadata can be approximate
  return info;
}

}  // namespace deepzine::video
