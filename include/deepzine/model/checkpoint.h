#pragma once
// The checkpoint file (log_dir/<resolution>/checkpoint.pt): one pickled dict, written by
// torch::pickle_save, so Python reads it without this project: `ckpt = torch.load(path)`.
//   ckpt["format"]   "deepzine-checkpoint",   ckpt["version"] 1
//   ckpt["meta"]     dict: latent_size, channels, max_filter, filter_reduction_depth, legacy_filters,
//                    max_resolution, resolution, transition, alpha, stage_index, stage_step,
//                    global_step, images_seen, fingerprint (architecture + schedule)
//   ckpt["G"], ckpt["G_ema"], ckpt["D"]       dicts parameter name -> tensor (CPU, float32)
//   ckpt["opt_G"], ckpt["opt_D"]             dicts "<param>.exp_avg" / "<param>.exp_avg_sq" -> tensor,
//                                            plus "step" (tensor of the update count)
//   ckpt["rng"]                              CPU generator state (uint8 tensor)
// Nothing in it depends on the batch size.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <torch/types.h>

#include "deepzine/model/pggan.h"

namespace deepzine::model {

using TensorMap = std::map<std::string, torch::Tensor>;

struct CheckpointMeta {
  ArchitectureSpec arch;
  int max_resolution = 4;
  int resolution = 4;
  bool transition = false;
  double alpha = 1.0;
  int stage_index = 0;
  int64_t stage_step = 0;  // steps done in this stage
  int64_t global_step = 0;
  int64_t images_seen = 0;
  std::string fingerprint;
};

// CheckpointMeta::fingerprint of a converted original-DeepZine (TensorFlow) generator: G_ema then holds
// a LegacyGenerator's parameters (deepzine --convert-tf), sampled with pretrained_model: False.
inline constexpr const char* kLegacyGeneratorFingerprint = "deepzine-legacy-tf-generator-v1";

struct Checkpoint {
  CheckpointMeta meta;
  TensorMap G, G_ema, D, opt_G, opt_D;
  torch::Tensor rng;
};

// Written to a temporary sibling and renamed: a reader never sees a partial checkpoint.
void save_checkpoint(const std::filesystem::path& file, const Checkpoint& ckpt);
// Throws std::runtime_error naming the file when it is missing, truncated or not a checkpoint.
Checkpoint load_checkpoint(const std::filesystem::path& file);
// The same from the file's bytes (`file` names it in messages): zip CRCs, format, meta bounds.
Checkpoint parse_checkpoint(const std::string& bytes, const std::filesystem::path& file);

TensorMap state_of(const torch::nn::Module& module);  // parameters and buffers, on the CPU
// Copies `state` into the module; throws naming the first missing or mis-shaped entry.
void load_state(torch::nn::Module& module, const TensorMap& state, const std::string& what);

struct LoadedGenerator {
  Generator generator{nullptr};
  CheckpointMeta meta;
};
// `file_or_dir`: a checkpoint.pt, or a folder holding one. The EMA generator, in eval mode.
LoadedGenerator load_generator_for_inference(const std::filesystem::path& file_or_dir, torch::Device device);
// The same from a checkpoint already loaded from `source` (named in errors).
LoadedGenerator generator_for_inference(const Checkpoint& ckpt, const std::string& source, torch::Device device);

}  // namespace deepzine::model
