#pragma once
#include <string>
#include <string_view>

namespace deepzine::util {

// Sets up the default spdlog logger: timestamps, level, stderr. level: trace|debug|info|warn|error.
void setup_logging(const std::string& level);

// Control characters (other than newline and tab) as \xNN: what file names from a PDF folder or an
// archive, or text from a file, may carry into a message, so that none reaches the terminal raw
// (an escape sequence could rewrite the screen). Every log line goes through it.
std::string escape_control_characters(std::string_view text);

}  // namespace deepzine::util
