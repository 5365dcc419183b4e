#pragma once
// The stages that need LibTorch (train, inference, interpolation, --convert-tf) are built into a
// module, libdeepzine_torch_stages.so, that the executable loads the first time one of them runs.
// LibTorch's static initialisation costs ~0.5 s at every start (docs/BENCHMARKS.md); a run that
// only loads data, rebuilds a report or checks a config (--dry-run) no longer pays it.
#include <filesystem>

#include "deepzine/config/config.h"

namespace deepzine::stages {

struct TorchStages {
  int (*run_train)(const config::Config&);
  int (*run_inference)(const config::Config&);
  int (*run_interpolation)(const config::Config&);
  int (*convert_tf_model)(const config::Config&, const std::filesystem::path&);
  int (*configure_cpu_threads)(const config::Config&);
};

// The module's entry point: extern "C" const TorchStages* deepzine_torch_stages_v1().
constexpr const char* kTorchStagesEntry = "deepzine_torch_stages_v1";
constexpr const char* kTorchStagesModule = "libdeepzine_torch_stages.so";

// Loads the module on first use (beside the executable, or in ../lib of a bundle); throws
// util::StageError saying where it looked and why it failed (LibTorch missing, say).
const TorchStages& torch_stages();

}  // namespace deepzine::stages
