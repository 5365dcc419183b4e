#pragma once
// One entry point per stage. The runner calls them in the original's order. Each returns an exit code
// (util::kExitOk or util::kExitPartialFailure) or throws util::StageError / util::ConfigError.
#include <filesystem>
#include <string>
#include <vector>

#include "deepzine/config/config.h"

namespace deepzine::stages {

int run_load_data(const config::Config& cfg);      // src/stages/load_data_stage.cpp
// In libdeepzine_torch_stages.so; the executable reaches them through torch_stages().
int run_train(const config::Config& cfg);          // src/stages/train_stage.cpp
int run_inference(const config::Config& cfg);      // src/stages/inference_stage.cpp
int run_interpolation(const config::Config& cfg);  // src/stages/interpolation_stage.cpp

}  // namespace deepzine::stages

namespace deepzine::stages {

enum class Stage { kLoadData, kTrain, kInference, kInterpolation };
const char* stage_name(Stage s);  // "load_data", ...
// The config key that toggles the stage (load_data, train, inference, interpolation).
bool stage_enabled(const config::Config& cfg, Stage s);
// Enabled and, when `only` is not empty, listed in it: the stage runs.
bool stage_selected(const config::Config& cfg, Stage s, const std::vector<Stage>& only);

// The output folders of the selected stages that cannot be written or created, one message each
// naming the key ("log_dir ./a/b: ./a is a file, not a folder"); empty when all are usable. Used by
// --dry-run and before the first stage runs, so that no stage fails late on a folder.
std::vector<std::string> output_folder_problems(const config::Config& cfg, const std::vector<Stage>& only);

// Runs the enabled stages (config keys, restricted by `only` when not empty) in the original's order.
// Returns the process exit code; a failing stage stops the run (later stages would use its output).
int run_stages(const config::Config& cfg, const std::vector<Stage>& only);

// deepzine CONFIG --convert-tf OUT_DIR: loads the original DeepZine TensorFlow checkpoint that
// inference would load with pretrained_model: True and writes it in this project's format as
// OUT_DIR/<resolution>/checkpoint.pt (sampled with pretrained_model: False and
// inference_model_directory: OUT_DIR). Returns the exit code. In the LibTorch module.
int convert_tf_model(const config::Config& cfg, const std::filesystem::path& out_dir);

// deepzine CONFIG --report: rebuilds log_dir/report.html (curves, schedule, samples) from the
// metrics.csv and sample grids a training run with this config left; trains nothing. Returns the
// exit code; throws util::StageError naming log_dir when there is nothing to report on.
int write_report(const config::Config& cfg);  // src/stages/report_stage.cpp

}  // namespace deepzine::stages
