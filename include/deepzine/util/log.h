#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace deepzine::util {

// Sets up the default spdlog logger: timestamps, level, stderr. level: trace|debug|info|warn|error.
void setup_logging(const std::string& level);

// Control characters (other than newline and tab) as \xNN: what file names from a PDF folder or an
// archive, or text from a file, may carry into a message, so that none reaches the terminal raw
// (an escape sequence could rewrite the screen). Every log line goes through it.
std::string escape_control_characters(std::string_view text);

// One info line per temporary file a killed earlier run left, as util::remove_stale_temporaries*
// (atomic_file.h, which does not log) returns them removed.
void log_removed_temporaries(const std::vector<std::filesystem::path>& removed);

}  // namespace deepzine::util
