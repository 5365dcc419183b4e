// Placeholder until the interpolation stage lands; replaced by its owner.
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {

int run_interpolation(const config::Config&) {
  throw util::StageError("the interpolation stage is not available in this build yet");
}

}  // namespace deepzine::stages
