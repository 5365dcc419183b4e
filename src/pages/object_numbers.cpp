#include "object_numbers.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

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
  // Blocks of 1 MiB, each after the last 64 bytes of the one before (a header across the boundary).
  constexpr size_t kBlock = 1 << 20, kCarry = 64;
  std::vector<char> buffer(kCarry + kBlock);
  size_t carried = 0;
  int64_t largest = 0;
  for (;;) {
    const size_t read = std::fread(buffer.data() + carried, 1, kBlock, in.get());
    if (read == 0) break;
    const size_t length = carried + read;
    const char* begin = buffer.data();
    for (const char* at = begin; (at = static_cast<const char*>(memmem(at, begin + length - at, "obj", 3)));
         at += 3) {
      const int64_t number = object_number_before(begin, at);
      if (number > largest) largest = number;
    }
    carried = std::min(kCarry, length);
    std::memmove(buffer.data(), buffer.data() + length - carried, carried);
  }
  return std::ferror(in.get()) ? -1 : largest;
}

}  // namespace deepzine::pages
