#include "deepzine/report/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace deepzine::report {
namespace {

constexpr const char* kHeader =
    "stage,resolution,transition,step,global_step,kimg,alpha,d_loss,g_loss,gp,drift,images_per_s,swd";
constexpr size_t kColumns = 13;
constexpr size_t kMaxFileBytes = size_t(1) << 30;  // a million-step run logs a few hundred MB at most

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::stringstream in(line);
  while (std::getline(in, cell, ',')) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size();
}

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtoll(text.c_str(), &end, 10);
  return errno == 0 && end == text.c_str() + text.size();
}

bool parse_row(const std::string& line, MetricsRow& row) {
  const auto cells = split(line);
  if (cells.size() != kColumns || cells[0].empty() || cells[0].size() > 64) return false;
  int64_t resolution = 0, transition = 0;
  row.stage = cells[0];
  bool ok = parse_int(cells[1], resolution) && parse_int(cells[2], transition) && parse_int(cells[3], row.step) &&
            parse_int(cells[4], row.global_step) && parse_double(cells[5], row.kimg) &&
            parse_double(cells[6], row.alpha) && parse_double(cells[7], row.d_loss) &&
            parse_double(cells[8], row.g_loss) && parse_double(cells[9], row.gp) &&
            parse_double(cells[10], row.drift) && parse_double(cells[11], row.images_per_s);
  if (!ok || resolution < 1 || resolution > (1 << 16) || (transition != 0 && transition != 1)) return false;
  row.resolution = static_cast<int>(resolution);
  row.transition = transition == 1;
  row.swd.reset();
  if (!cells[12].empty()) {
    double swd = 0;
    if (!parse_double(cells[12], swd)) return false;
    row.swd = swd;
  }
  return true;
}

}  // namespace

Metrics read_metrics(const std::filesystem::path& file) {
  Metrics metrics;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return metrics;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw std::runtime_error(file.string() + " is not a regular file (the trainer's metrics.csv belongs there)");
  }
  if (std::filesystem::file_size(file, ec) > kMaxFileBytes) {
    throw std::runtime_error(file.string() + " is larger than 1 GiB: not a metrics.csv this project wrote");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::stringstream lines(text);
  std::string line;
  int64_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (number == 1) {
      if (line != kHeader) {
        throw std::runtime_error(file.string() + ": line 1 is not the header deepzine writes (\"" +
                                 std::string(kHeader) + "\"); is this a metrics.csv of this project?");
      }
      continue;
    }
    if (line.empty()) continue;
    MetricsRow row;
    const bool last = lines.peek() == std::char_traits<char>::eof();
    if (parse_row(line, row)) {
      metrics.rows.push_back(std::move(row));
    } else if (last) {
      ++metrics.cut_off_rows;  // what a kill during the append leaves
    } else {
      throw std::runtime_error(file.string() + ": line " + std::to_string(number) +
                               " does not parse as a metrics row (13 comma-separated values, numbers after the "
                               "stage name); remove the line or the file to rebuild the report");
    }
  }
  return metrics;
}

}  // namespace deepzine::report
