#pragma once
// Runs a shell command for the tests that drive the deepzine executable, capturing stdout and stderr.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace deepzine::testing_support {

struct ShellResult {
  int status = -1;     // exit status; -1 when killed by a signal
  std::string output;  // stdout and stderr together
};

inline ShellResult shell(const std::string& command) {
  ShellResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int st = pclose(pipe);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace deepzine::testing_support
