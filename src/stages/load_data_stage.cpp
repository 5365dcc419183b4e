// Placeholder until the load_data stage lands; replaced by its owner.
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {

int run_load_data(const config::Config&) {
  throw util::StageError("the load_data stage is not available in this build yet");
}

}  // namespace deepzine::stages
