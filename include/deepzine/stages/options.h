#pragma once
// Config -> subsystem options, shared by the stages (and --dry-run uses the same derivations).
#include "deepzine/config/config.h"
#include "deepzine/model/schedule.h"

namespace deepzine::stages {

// Learning rates below this are on the original DeepZine's scale (weights without equalized learning
// rate, 1e-4): on this project's equalized layers a 10-25x smaller step. The train stage warns, the
// --dry-run plan says so.
inline bool is_original_scale_learning_rate(double lr) { return lr < 5e-4; }

inline model::ArchitectureSpec architecture_of(const config::Config& c) {
  model::ArchitectureSpec a;
  a.latent_size = c.latent_size;
  a.channels = c.channels.value_or(3);  // the train stage resolves None from the page file
  a.max_filter = c.max_filter;
  a.filter_reduction_depth = c.filter_num_reduction_transition_depth.value_or(
      model::log2_int(c.filter_num_reduction_transition_size) - 1);
  a.legacy_filters = c.pretrained_model;
  return a;
}

inline model::ScheduleSpec schedule_of(const config::Config& c) {
  model::ScheduleSpec s;
  s.starting_size = c.starting_size();
  s.output_size = c.output_size();
  s.iterations_per_stage = c.iterations_per_stage;
  s.batch_size = c.batch_size;
  s.reduced_batch_size = c.reduced_batch_size;
  s.batch_reduction_depth = c.batch_size_reduction_transition_depth.value_or(
      model::log2_int(c.batch_size_reduction_transition_size) - 1);
  return s;
}

}  // namespace deepzine::stages
