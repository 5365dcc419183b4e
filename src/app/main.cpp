// deepzine CONFIG [--set KEY=VALUE]... [--only STAGE[,STAGE]] [--dry-run] [--report] [--nproc N]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli.h"
#include "deepzine/config/config.h"
#include "deepzine/stages/stages.h"
#include "deepzine/stages/torch_stages.h"
#include "deepzine/util/error.h"
#include "deepzine/util/interrupt.h"
#include "deepzine/util/log.h"
#include "deepzine/util/progress.h"
#include "launcher.h"
#include "plan.h"

int main(int argc, char** argv) {
  using namespace deepzine;
  auto parsed = app::parse_command_line(argc, argv);
  if (!parsed.command_line) return parsed.exit_code;
  const app::CommandLine& cl = *parsed.command_line;
  if (cl.list_keys) {
    app::print_keys(std::cout);
    return util::kExitOk;
  }
  config::Config cfg;
  try {
    cfg = config::load_config(cl.config_file, cl.overrides);
  } catch (const util::ConfigError& e) {
    std::cerr << "deepzine: " << util::escape_control_characters(e.what()) << "\n";
    return util::kExitConfig;
  }
  util::setup_logging(cfg.log_level);
  if (cl.dry_run) {
    app::print_plan(std::cout, cfg, cl.only, cl.nproc);
    const auto problems = stages::output_folder_problems(cfg, cl.only);
    for (const auto& p : problems) std::cerr << "deepzine: " << util::escape_control_characters(p) << "\n";
    return problems.empty() ? util::kExitOk : util::kExitConfig;
  }
  // A rank of a multi-process run (started by --nproc or torchrun) has WORLD_SIZE > 1.
  const char* world_env = std::getenv("WORLD_SIZE");
  const char* rank_env = std::getenv("RANK");
  const bool is_rank = world_env && std::atoi(world_env) > 1;
  if (cl.nproc > 1 && is_rank) {
    std::cerr << "deepzine: --nproc " << cl.nproc << " inside a multi-process environment (WORLD_SIZE=" << world_env
              << "): use either --nproc or torchrun-style variables, not both\n";
    return util::kExitConfig;
  }
  std::vector<stages::Stage> only = cl.only;
  if (is_rank && rank_env && std::atoi(rank_env) != 0) {
    // Ranks other than 0 only train; rank 0 runs the other stages (and alone writes files).
    if (!stages::stage_selected(cfg, stages::Stage::kTrain, only)) return util::kExitOk;
    only = {stages::Stage::kTrain};
    util::Progress::force_terminal(false);  // one progress display (rank 0's) is enough
    util::Progress::set_plain_interval(1e9);
  }
  util::install_interrupt_handlers();
  if (cl.report) {
    try {
      return stages::write_report(cfg);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return util::kExitStageFailed;
    }
  }
  if (!cl.convert_tf.empty()) {
    try {
      return stages::torch_stages().convert_tf_model(cfg, cl.convert_tf);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return util::kExitStageFailed;
    }
  }
  try {
    if (cl.nproc > 1) return app::run_with_local_ranks(cfg, cl);
    return stages::run_stages(cfg, only);
  } catch (const util::Interrupted&) {
    spdlog::warn("interrupted: stopped cleanly; a rerun of the same command resumes");
    return util::kExitInterrupted;
  } catch (const util::ConfigError& e) {
    spdlog::error("{}", e.what());
    return util::kExitConfig;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    // A stage that failed on a write (a full disk) can leave an HDF5 file whose close failed, and
    // HDF5 1.10 crashes in its exit handler on such a file. The error is reported and every file of
    // ours is closed or removed, so leave without running the libraries' exit handlers.
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(util::kExitStageFailed);
  }
}
