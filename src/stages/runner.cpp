// The stage runner: wires the stages in the original's order and maps their outcome to exit codes.
#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "deepzine/stages/stages.h"
#include "deepzine/stages/torch_stages.h"
#include "deepzine/util/error.h"
#include "deepzine/util/paths.h"

namespace deepzine::stages {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::kLoadData: return "load_data";
    case Stage::kTrain: return "train";
    case Stage::kInference: return "inference";
    case Stage::kInterpolation: return "interpolation";
  }
  return "?";
}

bool stage_enabled(const config::Config& cfg, Stage s) {
  switch (s) {
    case Stage::kLoadData: return cfg.load_data;
    case Stage::kTrain: return cfg.train;
    case Stage::kInference: return cfg.inference;
    case Stage::kInterpolation: return cfg.interpolation;
  }
  return false;
}

bool stage_selected(const config::Config& cfg, Stage s, const std::vector<Stage>& only) {
  return stage_enabled(cfg, s) && (only.empty() || std::find(only.begin(), only.end(), s) != only.end());
}

std::vector<std::string> output_folder_problems(const config::Config& cfg, const std::vector<Stage>& only) {
  std::vector<std::pair<std::string, std::filesystem::path>> folders;  // key, folder
  if (stage_selected(cfg, Stage::kLoadData, only)) {
    if (cfg.data_hdf5) folders.emplace_back("data_hdf5", cfg.data_hdf5->has_parent_path() ? cfg.data_hdf5->parent_path() : ".");
    if (cfg.image_directory) folders.emplace_back("image_directory", *cfg.image_directory);
    if (cfg.download_pdf && cfg.pdf_directory) folders.emplace_back("pdf_directory", *cfg.pdf_directory);
  }
  if (stage_selected(cfg, Stage::kTrain, only)) {
    folders.emplace_back("log_dir", cfg.log_dir);
    folders.emplace_back("samples_dir", cfg.samples_dir);
  }
  if ((stage_selected(cfg, Stage::kInference, only) || stage_selected(cfg, Stage::kInterpolation, only)) &&
      cfg.inference_output_directory) {
    folders.emplace_back("inference_output_directory", *cfg.inference_output_directory);
  }
  std::vector<std::string> problems;
  for (const auto& [key, folder] : folders) {
    const std::string why = util::output_folder_problem(folder);
    if (!why.empty()) problems.push_back(key + " " + folder.string() + ": " + why + "; choose another path");
  }
  std::error_code ec;
  if (stage_selected(cfg, Stage::kLoadData, only) && cfg.data_hdf5 && std::filesystem::is_directory(*cfg.data_hdf5, ec)) {
    problems.push_back("data_hdf5 " + cfg.data_hdf5->string() + " is a folder; it names the page file (e.g. pages.h5)");
  }
  return problems;
}

int run_stages(const config::Config& cfg, const std::vector<Stage>& only) {
  if (const auto problems = output_folder_problems(cfg, only); !problems.empty()) {
    std::string text;
    for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
    throw util::ConfigError(text);
  }
  struct Entry {
    Stage stage;
    int (*run)(const config::Config&);
  };
  // The LibTorch stages come from their module, loaded only when one of them runs.
  const Entry order[] = {{Stage::kLoadData, &run_load_data},
                         {Stage::kTrain, [](const config::Config& c) { return torch_stages().run_train(c); }},
                         {Stage::kInference, [](const config::Config& c) { return torch_stages().run_inference(c); }},
                         {Stage::kInterpolation,
                          [](const config::Config& c) { return torch_stages().run_interpolation(c); }}};
  int status = util::kExitOk;
  int ran = 0;
  bool threads_set = false;
  for (const auto& e : order) {
    if (!stage_selected(cfg, e.stage, only)) continue;
    ++ran;
    // LibTorch (and its module) only once a stage that uses it is about to run: a run whose
    // load_data fails, or that only loads data, never pays its start-up.
    if (e.stage != Stage::kLoadData && !threads_set) {
      torch_stages().configure_cpu_threads(cfg);
      threads_set = true;
    }
    spdlog::info("stage {}: starting", stage_name(e.stage));
    const auto start = std::chrono::steady_clock::now();
    int rc = e.run(cfg);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rc == util::kExitOk) {
      spdlog::info("stage {}: done in {:.1f} s", stage_name(e.stage), seconds);
    } else {
      spdlog::warn("stage {}: finished in {:.1f} s with failures (exit status {})", stage_name(e.stage),
                   seconds, rc);
      status = rc;
    }
  }
  if (ran == 0) spdlog::warn("no stage is enabled: set load_data, train, inference or interpolation to True");
  return status;
}

}  // namespace deepzine::stages
