// deepzine CONFIG [--set KEY=VALUE]... [--only STAGE[,STAGE]] [--dry-run] [--nproc N]
#include <csignal>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli.h"
#include "deepzine/config/config.h"
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"
#include "deepzine/util/interrupt.h"
#include "deepzine/util/log.h"
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
    std::cerr << "deepzine: " << e.what() << "\n";
    return util::kExitConfig;
  }
  util::setup_logging(cfg.log_level);
  if (cl.dry_run) {
    app::print_plan(std::cout, cfg, cl.only, cl.nproc);
    return util::kExitOk;
  }
  if (cl.nproc > 1) {
    std::cerr << "deepzine: --nproc " << cl.nproc
              << ": multi-process training is not available in this build yet (run with --nproc 1)\n";
    return util::kExitConfig;
  }
  util::install_interrupt_handlers();
  try {
    return stages::run_stages(cfg, cl.only);
  } catch (const util::Interrupted&) {
    spdlog::warn("interrupted: stopped cleanly; a rerun of the same command resumes");
    return util::kExitInterrupted;
  } catch (const util::ConfigError& e) {
    spdlog::error("{}", e.what());
    return util::kExitConfig;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return util::kExitStageFailed;
  }
}
