#pragma once
// Error types that decide the process exit status (see docs/ARCHITECTURE.md).
#include <stdexcept>
#include <string>

namespace deepzine::util {

// Bad config file, bad --set value or bad command line: exit status 2, nothing written.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A stage could not finish: exit status 3.
struct StageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum ExitCode : int {
  kExitOk = 0,
  kExitConfig = 2,
  kExitStageFailed = 3,
  kExitPartialFailure = 4,  // stage finished, but some items (files, pages) failed
  kExitInterrupted = 130,
};

}  // namespace deepzine::util
