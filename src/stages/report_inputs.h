#pragma once
// Config -> what the training report shows (the schedule and the settings the run uses).
#include "deepzine/config/config.h"
#include "deepzine/report/report.h"

namespace deepzine::stages {

// `channels`: the model's (the train stage resolves None from the pages; 0 when not known);
// `world_size`: training processes, which multiply the batch.
report::TrainingReportInputs training_report_inputs(const config::Config& cfg, int channels, int world_size);

}  // namespace deepzine::stages
