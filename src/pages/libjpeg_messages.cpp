#include "libjpeg_messages.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>

#if __has_include(<jpeglib.h>)
#include <jpeglib.h>
#define DEEPZINE_ROUTE_LIBJPEG 1
#endif

namespace deepzine::pages {
namespace {
std::atomic<bool> messages_to_debug_log{true};
}  // namespace

void route_libjpeg_messages(bool to_debug_log) { messages_to_debug_log = to_debug_log; }

}  // namespace deepzine::pages

#ifdef DEEPZINE_ROUTE_LIBJPEG
namespace {

void log_libjpeg_message(j_common_ptr cinfo) {
  if (!deepzine::pages::messages_to_debug_log) return;
  char message[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, message);
  spdlog::debug("libjpeg: {}", message);
}

}  // namespace

// poppler's DCTStream takes libjpeg's standard error handler and replaces only its error_exit, so
// libjpeg's warnings would reach stderr. This process's jpeg_std_error comes first in symbol lookup
// (poppler, linked in, refers to it): it sets up the real handler, then sends messages to the log.
extern "C" struct jpeg_error_mgr* jpeg_std_error(struct jpeg_error_mgr* err) {
  using StdError = struct jpeg_error_mgr* (*)(struct jpeg_error_mgr*);
  static const StdError real = reinterpret_cast<StdError>(dlsym(RTLD_NEXT, "jpeg_std_error"));
  if (real == nullptr) std::abort();  // libjpeg is linked in by poppler: it cannot be missing
  real(err);
  err->output_message = log_libjpeg_message;
  return err;
}
#endif
