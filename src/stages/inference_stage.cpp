// Placeholder until the inference stage lands; replaced by its owner.
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {

int run_inference(const config::Config&) {
  throw util::StageError("the inference stage is not available in this build yet");
}

}  // namespace deepzine::stages
