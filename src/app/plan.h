#pragma once
#include <ostream>
#include <vector>

#include "deepzine/config/config.h"
#include "deepzine/stages/stages.h"

namespace deepzine::app {

// The --dry-run report: stages, resolved paths, the resolution schedule and parameter counts.
void print_plan(std::ostream& out, const config::Config& cfg, const std::vector<stages::Stage>& only,
                int nproc);
// --list-keys
void print_keys(std::ostream& out);

}  // namespace deepzine::app
