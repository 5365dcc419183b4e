#pragma once
// Resolution schedule of progressive growing: filters and batch size per resolution, the list of
// training stages, and analytic parameter counts. Torch-free so that --dry-run can print it instantly.
#include <cstdint>
#include <string>
#include <vector>

namespace deepzine::model {

// Architecture knobs shared by the PGGAN and the legacy (original DeepZine) generator.
struct ArchitectureSpec {
  int latent_size = 128;
  int channels = 3;
  int max_filter = 128;
  // Depth (size 2^(d+1)) from which filters halve; from filter_num_reduction_transition_depth, else
  // log2(filter_num_reduction_transition_size) - 1, as the original.
  int filter_reduction_depth = 6;
  bool legacy_filters = false;  // pretrained_model: True (16 filters past the reduction point)

  // The original's get_filter_num(depth), kept with its indexing.
  int filters_at_depth(int depth) const;
  // Filters of the convolutions producing a `resolution`×`resolution` map (4, 8, 16, ...).
  // As the original: resolution 4 and 8 use get_filter_num(1), resolution r ≥ 8 uses
  // get_filter_num(log2(r) - 2).
  int filters(int resolution) const;
};

struct TrainingStage {
  int resolution = 4;
  bool transition = false;  // fading in `resolution` from resolution/2
  int batch_size = 16;
  int64_t iterations = 0;
  // "4", "8_Transition", "8", ...: the original's sample folder suffix.
  std::string name() const;
};

struct ScheduleSpec {
  int starting_size = 4;   // 4, or a larger size to continue from a saved lower resolution
  int output_size = 128;
  int64_t iterations_per_stage = 10000;
  int batch_size = 16;
  int reduced_batch_size = 4;
  int batch_reduction_depth = 6;  // batch is reduced from depth >= this (size 2^(d+1))

  int batch_size_at(int resolution) const;
  // 4 stable, then (transition, stable) per doubling up to output_size. A starting_size S > 4 begins
  // with the transition into S (from the model saved at S/2).
  std::vector<TrainingStage> stages() const;
};

// Parameter counts of this project's PGGAN at `resolution` (all blocks up to it, one toRGB/fromRGB
// at `resolution`, plus the previous resolution's toRGB/fromRGB when `transition`).
int64_t generator_parameter_count(const ArchitectureSpec& arch, int resolution, bool transition);
int64_t discriminator_parameter_count(const ArchitectureSpec& arch, int resolution, bool transition);

bool is_power_of_two(int64_t v);
int log2_int(int64_t v);  // exact for powers of two

}  // namespace deepzine::model
