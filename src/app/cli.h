#pragma once
// Command-line parsing (CLI11) into a plain struct.
#include <optional>
#include <string>
#include <vector>

#include "deepzine/config/config.h"
#include "deepzine/stages/stages.h"

namespace deepzine::app {

struct CommandLine {
  std::string config_file;
  std::vector<config::Override> overrides;
  std::vector<stages::Stage> only;
  bool dry_run = false;
  bool report = false;  // --report: rebuild log_dir/report.html, train nothing
  bool list_keys = false;
  int nproc = 1;
  std::string convert_tf;  // --convert-tf OUT_DIR
};

// Returns the parsed command line, or an exit code when the program should stop now
// (--help/--version printed: 0; bad arguments: 2 with the message on stderr).
struct ParseResult {
  std::optional<CommandLine> command_line;
  int exit_code = 0;
};
ParseResult parse_command_line(int argc, char** argv);

}  // namespace deepzine::app
