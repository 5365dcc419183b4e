#include "libjpeg_hooks.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// jpeglib.h needs the size types first; jerror.h the JERR_ codes for ERREXIT.
#include <cstddef>
#include <jpeglib.h>
#include <jerror.h>

namespace deepzine::pages {
namespace {
std::atomic<bool> messages_to_debug_log{true};
std::atomic<long> skips_stopped{0};
}  // namespace

void route_libjpeg_messages(bool to_debug_log) { messages_to_debug_log = to_debug_log; }
long stopped_jpeg_skips() { return skips_stopped; }

}  // namespace deepzine::pages

namespace {

// libjpeg is linked in by poppler: a missing symbol is a broken installation, not bad input.
template <typename Function>
Function real_libjpeg(const char* name) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    std::fprintf(stderr, "deepzine: libjpeg's %s is missing (%s)\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Function>(symbol);
}

void log_libjpeg_message(j_common_ptr cinfo) {
  if (!deepzine::pages::messages_to_debug_log) return;
  char message[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, message);
  spdlog::debug("libjpeg: {}", message);
}

// libjpeg's contract for skip_input_data (libjpeg.txt, "Compressed data handling"), with the end of
// the stream an error: poppler's source returns FALSE there and leaves nothing in the buffer.
// error_exit is poppler's, which longjmps to the setjmp around its libjpeg calls: the image is
// damaged, as when libjpeg meets the end of the data anywhere else.
void skip_within_stream(j_decompress_ptr cinfo, long num_bytes) {
  jpeg_source_mgr* source = cinfo->src;
  if (num_bytes <= 0) return;
  while (num_bytes > static_cast<long>(source->bytes_in_buffer)) {
    num_bytes -= static_cast<long>(source->bytes_in_buffer);
    source->next_input_byte += source->bytes_in_buffer;
    source->bytes_in_buffer = 0;
    if (!(*source->fill_input_buffer)(cinfo) || source->bytes_in_buffer == 0) {
      ++deepzine::pages::skips_stopped;
      ERREXIT(cinfo, JERR_INPUT_EOF);
      return;  // an error_exit that returns: nothing more to skip
    }
  }
  source->next_input_byte += num_bytes;
  source->bytes_in_buffer -= static_cast<size_t>(num_bytes);
}

// Only poppler's source is mended: a source of another library (OpenCV's decoder) keeps its own.
bool is_popplers(const void* function) {
  Dl_info info{};
  return dladdr(function, &info) != 0 && info.dli_fname != nullptr &&
         std::strstr(info.dli_fname, "libpoppler.so") != nullptr;
}

}  // namespace

// poppler's DCTStream takes libjpeg's standard error handler and replaces only its error_exit, so
// libjpeg's warnings would reach stderr: the real handler is set up, then messages go to the log.
extern "C" struct jpeg_error_mgr* jpeg_std_error(struct jpeg_error_mgr* err) {
  using StdError = struct jpeg_error_mgr* (*)(struct jpeg_error_mgr*);
  static const StdError real = real_libjpeg<StdError>("jpeg_std_error");
  real(err);
  err->output_message = log_libjpeg_message;
  return err;
}

// poppler installs its source manager after jpeg_create_decompress and reads the header next: the
// first moment its skip_input_data can be replaced.
extern "C" int jpeg_read_header(j_decompress_ptr cinfo, boolean require_image) {
  using ReadHeader = int (*)(j_decompress_ptr, boolean);
  static const ReadHeader real = real_libjpeg<ReadHeader>("jpeg_read_header");
  jpeg_source_mgr* source = cinfo->src;
  if (source != nullptr && source->skip_input_data != skip_within_stream &&
      is_popplers(reinterpret_cast<const void*>(source->fill_input_buffer)))
    source->skip_input_data = skip_within_stream;
  return real(cinfo, require_image);
}
