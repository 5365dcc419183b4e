// Placeholder until the train stage lands; replaced by its owner.
#include "deepzine/stages/stages.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {

int run_train(const config::Config&) {
  throw util::StageError("the train stage is not available in this build yet");
}

}  // namespace deepzine::stages
