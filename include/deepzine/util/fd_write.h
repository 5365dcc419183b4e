#pragma once
// Writing a whole buffer to a file descriptor (a file or a pipe), retrying short writes and EINTR.
#include <cstddef>

namespace deepzine::util {

// Writes all `size` bytes; false (errno from the failed write, or 0 for a write of 0 bytes) when the
// descriptor refuses more (a full disk, a pipe whose reader is gone).
bool write_fully(int fd, const void* bytes, size_t size);

}  // namespace deepzine::util
