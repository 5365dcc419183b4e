// The entry point of libdeepzine_torch_stages.so (include/deepzine/stages/torch_stages.h).
#include "deepzine/stages/device.h"
#include "deepzine/stages/stages.h"
#include "deepzine/stages/torch_stages.h"

extern "C" __attribute__((visibility("default"))) const deepzine::stages::TorchStages* deepzine_torch_stages_v1() {
  using namespace deepzine::stages;
  static const TorchStages table{&run_train, &run_inference, &run_interpolation, &convert_tf_model,
                                 &configure_cpu_threads};
  return &table;
}
