#pragma once
// log_dir/metrics.csv as the trainer writes it (src/train/trainer.cpp), read back for the report.
// The file is untrusted input: a row that does not parse is an error naming the file and line,
// except a last row cut off by a kill, which is counted and reported.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace deepzine::report {

struct MetricsRow {
  std::string stage;  // e.g. "16_Transition"
  int resolution = 0;
  bool transition = false;
  int64_t step = 0, global_step = 0;
  double kimg = 0, alpha = 0, d_loss = 0, g_loss = 0, gp = 0, drift = 0, images_per_s = 0;
  std::optional<double> swd;  // the stage-end row carries the SWD (x1e3, mean of levels)
};

struct Metrics {
  std::vector<MetricsRow> rows;
  int cut_off_rows = 0;  // a last line without its newline, or one a kill left short: not used
};

// Missing file: no rows. Throws std::runtime_error naming the file and line for anything else.
Metrics read_metrics(const std::filesystem::path& file);

}  // namespace deepzine::report
