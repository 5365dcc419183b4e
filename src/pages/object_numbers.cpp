#include "object_numbers.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <system_error>

namespace deepzine::pages {
namespace {

bool is_pdf_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\0'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The N of "N G obj" ending just before `at` (the "obj"), or -1 if the text there is not one.
int64_t object_number_before(const char* begin, const char* at) {
  const char* p = at;
  auto skip_spaces = [&] {
    const char* start = p;
    while (p > begin && is_pdf_space(p[-1])) --p;
    return p != start;
  };
  auto skip_digits = [&] {
    const char* end = p;
    while (p > begin && is_digit(p[-1])) --p;
    return end - p;
  };
  if (!skip_spaces() || skip_digits() == 0 || !skip_spaces()) return -1;
  const char* number_end = p;
  const long digits = static_cast<long>(skip_digits());
  if (digits == 0) return -1;
  if (digits > 18) return std::numeric_limits<int64_t>::max();
  int64_t number = 0;
  for (const char* d = p; d < number_end; ++d) number = number * 10 + (*d - '0');
  return number;
}

}  // namespace

int64_t largest_object_number(const std::filesystem::path& file) {
  std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!in) return -1;
  // Blocks of up to 1 MiB, each after the last 64 bytes of the one before (a header across the
  // boundary). A smaller file gets a buffer of its size, not zeroed (only bytes read are looked at):
  // a zeroed 1 MiB for every PDF opened was 20% of fuzz_pdf's time on its inputs of <= 64 KB.
  constexpr size_t kBlock = 1 << 20, kCarry = 64;
  std::error_code size_error;
  const uintmax_t file_size = std::filesystem::file_size(file, size_error);
  const size_t block = size_error ? kBlock : static_cast<size_t>(std::clamp<uintmax_t>(file_size, 4096, kBlock));
  std::unique_ptr<char[]> buffer(new char[kCarry + block]);
  size_t carried = 0;
  int64_t largest = 0;
  for (;;) {
    const size_t read = std::fread(buffer.get() + carried, 1, block, in.get());
    if (read == 0) break;
    const size_t length = carried + read;
    const char* begin = buffer.get();
    for (const char* at = begin; (at = static_cast<const char*>(memmem(at, begin + length - at, "obj", 3)));
         at += 3) {
      const int64_t number = object_number_before(begin, at);
      if (number > largest) largest = number;
    }
    carried = std::min(kCarry, length);
    std::memmove(buffer.get(), buffer.get() + length - carried, carried);
  }
  return std::ferror(in.get()) ? -1 : largest;
}

}  // namespace deepzine::pages
