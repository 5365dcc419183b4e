#pragma once
// deepzine CONFIG --nproc N: runs load_data in this process, the train stage in N rank processes
// (this executable again, with the torchrun environment RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/
// MASTER_PORT), then inference and interpolation here once training succeeded.
#include "cli.h"
#include "deepzine/config/config.h"

namespace deepzine::app {

// Returns the process exit code. A rank that fails stops the others (SIGTERM, then SIGKILL after a
// grace period) and the error names it; an interrupt is forwarded to every rank, which save and stop.
int run_with_local_ranks(const config::Config& cfg, const CommandLine& cl);

}  // namespace deepzine::app
