#pragma once
#include <filesystem>
#include <utility>
#include <vector>

#include "deepzine/train/trainer.h"

namespace deepzine::train {

// A loss-curve PNG (D loss red, G loss blue, zero line grey) drawn without any plotting library.
void write_loss_curve(const std::filesystem::path& file, const std::vector<std::pair<int64_t, StepStats>>& curve);

}  // namespace deepzine::train
