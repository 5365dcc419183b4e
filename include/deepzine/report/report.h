#pragma once
// The pages a person opens in a browser: log_dir/report.html for a training run (rebuilt while it
// trains and by `deepzine CONFIG --report`) and index.html in the inference output folder. Both are
// plain HTML with their pictures in files beside them, no network, written atomically.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace deepzine::report {

// One stage of the resolution schedule, as the trainer runs it.
struct StagePlan {
  std::string name;  // "16_Transition": the trainer's stage name (samples_<name>/, metrics.csv)
  int resolution = 4;
  bool transition = false;
  int64_t iterations = 0;
  int64_t batch_size = 0;  // effective: all ranks together
};

struct TrainingReportInputs {
  std::filesystem::path log_dir, samples_dir;
  std::vector<StagePlan> stages;
  std::vector<std::pair<std::string, std::string>> settings;  // what the run uses, key and value
  std::filesystem::path config_file;                         // shown with its text
};

// Writes log_dir/report.html, with plots inline (SVG) and sample grids as PNG files in
// log_dir/report_files/; returns the report's path. Throws std::runtime_error naming the file on
// a write failure or a metrics.csv that does not parse.
std::filesystem::path write_training_report(const TrainingReportInputs& inputs);

// Writes `dir`/index.html for what the inference and interpolation stages left there (the contact
// sheet, the movie, the latents files, the image count); `model` says which model made them.
std::filesystem::path write_output_index(const std::filesystem::path& dir, const std::string& model);

// HTML text escaping (&, <, >, ", ').
std::string escape_html(const std::string& text);

}  // namespace deepzine::report
