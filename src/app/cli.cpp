#include "cli.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>

#include "deepzine/util/error.h"

namespace deepzine::app {
namespace {

std::vector<stages::Stage> parse_only(const std::vector<std::string>& items) {
  std::vector<stages::Stage> out;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string name;
    while (std::getline(ss, name, ',')) {
      if (name.empty()) continue;
      bool found = false;
      for (auto s : {stages::Stage::kLoadData, stages::Stage::kTrain, stages::Stage::kInference,
                     stages::Stage::kInterpolation}) {
        if (name == stages::stage_name(s)) {
          out.push_back(s);
          found = true;
        }
      }
      if (!found) {
        throw util::ConfigError("--only: unknown stage '" + name +
                                "' (allowed: load_data, train, inference, interpolation)");
      }
    }
  }
  return out;
}

}  // namespace

ParseResult parse_command_line(int argc, char** argv) {
  CLI::App app{
      "deepzine: turn a library of PDF documents into a generative model of book pages.\n"
      "Runs the stages enabled in CONFIG in order: load_data -> train -> inference -> interpolation.\n"
      "Exit status: 0 success, 2 bad config or arguments, 3 a stage failed, 4 a stage finished but some "
      "items (downloads, PDFs) failed, 130 interrupted.",
      "deepzine"};
  CommandLine cl;
  std::vector<std::string> sets, only;
  app.add_option("CONFIG", cl.config_file, "YAML config file (see config.yaml for every key)");
  app.add_option("--set", sets,
                 "Override a config key with a YAML value, e.g. --set learning_rate=2e-4 --set train=false "
                 "(repeatable)")
      ->type_name("KEY=VALUE");
  app.add_option("--only", only, "Run only these stages (of those enabled), e.g. --only train,inference")
      ->type_name("STAGE[,STAGE]");
  app.add_flag("--dry-run", cl.dry_run,
               "Validate the config, print the resolved plan (stages, paths, resolution schedule with "
               "filters, batch sizes and parameter counts) and exit without writing anything");
  app.add_flag("--report", cl.report,
               "Rebuild log_dir/report.html (curves, schedule, samples, ETA) from what a training run with "
               "CONFIG left in log_dir and samples_dir, then exit without training");
  app.add_option("--nproc", cl.nproc, "Training processes on this machine (one per GPU in gpu_num)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--convert-tf", cl.convert_tf,
                 "Convert the original DeepZine TensorFlow checkpoint that CONFIG's inference would load "
                 "(as with pretrained_model: True) into OUT_DIR/<resolution>/checkpoint.pt, then exit")
      ->type_name("OUT_DIR");
  app.add_flag("--list-keys", cl.list_keys, "Print every config key with its type, default and meaning");
  app.set_version_flag("--version", std::string("deepzine ") + DEEPZINE_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help/version (code 0) or the error
    return ParseResult{std::nullopt, code == 0 ? 0 : util::kExitConfig};
  }
  if (cl.config_file.empty() && !cl.list_keys) {
    std::cerr << "deepzine: a CONFIG file is required (try deepzine --help)\n";
    return ParseResult{std::nullopt, util::kExitConfig};
  }
  try {
    for (const auto& s : sets) {
      auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw util::ConfigError("--set " + s + ": expected KEY=VALUE, e.g. --set learning_rate=2e-4");
      }
      cl.overrides.push_back({s.substr(0, eq), s.substr(eq + 1)});
    }
    cl.only = parse_only(only);
  } catch (const util::ConfigError& e) {
    std::cerr << "deepzine: " << e.what() << "\n";
    return ParseResult{std::nullopt, util::kExitConfig};
  }
  return ParseResult{cl, 0};
}

}  // namespace deepzine::app
