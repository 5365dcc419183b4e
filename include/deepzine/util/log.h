#pragma once
#include <string>

namespace deepzine::util {

// Sets up the default spdlog logger: timestamps, level, stderr. level: trace|debug|info|warn|error.
void setup_logging(const std::string& level);

}  // namespace deepzine::util
