#pragma once
// The resolved configuration: every key of the original DeepZine (same names, meanings, defaults) plus
// the keys this project adds. Field names are the YAML keys. Paths are already "~"-expanded.
// Keys and their documentation live in one table (src/config/schema.cpp); config.yaml mirrors it.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace deepzine::config {

using Path = std::filesystem::path;

struct Config {
  std::filesystem::path source_file;  // the YAML file this came from (for messages)

  // ---- stages
  bool load_data = false;
  bool train = false;
  bool inference = false;
  bool interpolation = false;

  // ---- devices and run
  std::vector<int> gpu_num;      // empty = None (first CUDA device); a list for multi-GPU
  std::string device = "auto";   // new: auto | cpu | cuda
  int cpu_threads = 0;            // new: LibTorch CPU threads; 0 = the usable cores (shared by local ranks)
  std::optional<int64_t> random_seed;
  std::string log_level = "info";  // new

  // ---- load_data
  bool overwrite = false;
  std::optional<Path> pdf_directory;
  std::optional<Path> image_directory;
  std::optional<Path> data_hdf5;
  std::string pdf_conversion_program = "pdftoppm";  // accepted; rendering is poppler in process
  bool download_pdf = true;
  bool convert_pdf = true;
  bool preload_resized_data = true;  // accepted; the reader always streams
  std::string internetarchive_collection = "MBLWHOI";
  std::optional<int64_t> pdf_num;
  int data_output_size = 1024;
  std::string internetarchive_base_url = "https://archive.org";  // new
  int download_workers = 4;                                      // new
  std::string download_glob = "*.pdf";                          // new
  int download_retries = 5;                                      // new
  double download_timeout = 60.0;                                // new: seconds without progress
  std::string page_fit = "stretch";                              // new: stretch | pad | crop
  int load_workers = 0;                                          // new: 0 = all cores
  double page_timeout = 120.0;                                   // new: seconds per page before it is skipped
  bool compact_grey_pages = true;                                // new: grey pages stored once

  // ---- train
  Path log_dir = "./log";
  Path samples_dir = "./samples";
  int64_t model_save_interval_steps = 1000;
  int64_t model_sample_interval_steps = 400;
  int64_t model_loss_output_interval_steps = 40;
  std::optional<int> starting_depth;
  std::optional<int> progressive_depth;
  int gan_starting_size = 4;
  int gan_output_size = 128;
  double learning_rate = 3e-3;    // measured (docs/BENCHMARKS.md); the original's 1e-4 was for weights without equalized LR
  int64_t iterations_per_stage = 10000;
  int latent_size = 128;
  std::optional<int> channels;    // None: from the page file (1 if every page is grey, else 3)
  int batch_size = 16;
  int batch_size_reduction_transition_size = 128;
  std::optional<int> batch_size_reduction_transition_depth;
  int reduced_batch_size = 4;
  int max_filter = 128;
  int filter_num_reduction_transition_size = 128;
  std::optional<int> filter_num_reduction_transition_depth;
  int discriminator_updates = 1;
  int generator_updates = 1;
  std::optional<double> ema_beta; // new: a fixed per-step decay instead of ema_kimg
  double ema_kimg = 10.0;         // new: half-life of the EMA generator in thousands of images
  double ema_rampup = 0.05;       // new: half-life <= this x images seen at the resolution (0: off)
  std::string augment = "translation,cutout,color";  // new: D's input augmentation (train/augment.h)
  double augment_probability = 0.25;          // new: chance of each transform per image
  int swd_image_num = 1024;       // new: images per side for the SWD at each stage end (0 = off)
  bool cuda_kernels = true;       // new: fused CUDA ops when on a GPU
  bool mixed_precision = false;   // new: bf16 autocast on GPU where numerically safe
  double distributed_timeout = 300.0;  // new: seconds before a silent rank is an error

  // ---- inference / interpolation
  bool pretrained_model = false;
  std::optional<Path> inference_model_directory;
  std::optional<Path> inference_model_path;
  std::optional<Path> inference_output_directory;
  std::string inference_output_format = "png";  // png | jpg
  int inference_batch_size = 16;
  int64_t inference_output_num = 100;
  std::optional<Path> inference_input_latent;
  std::string interpolation_method = "slerp";  // slerp | linear | tozero
  std::optional<Path> interpolation_latents;
  int interpolation_frames = 100;
  int interpolation_vector_num = 10;
  double movie_framerate = 30.0;  // new

  // ---- derived helpers
  // Depth conventions of the original: depth d <-> size 2^(d+1).
  int output_depth() const;    // progressive_depth or log2(gan_output_size) - 1
  int starting_size() const;   // from starting_depth if given, else gan_starting_size
  int output_size() const;     // from progressive_depth if given, else gan_output_size
};

struct Override {
  std::string key;
  std::string yaml_value;  // parsed as YAML, e.g. "2e-4", "false", "[0, 1]"
};

// Loads, applies overrides, validates. Throws util::ConfigError naming file, key, line and what is
// allowed. `for_stages` checks are applied (e.g. gan_output_size <= data_output_size when loading).
Config load_config(const std::filesystem::path& file, const std::vector<Override>& overrides = {});
// The same from the file's text (`file` names it in messages): what load_config does after reading.
Config parse_config(const std::string& text, const std::filesystem::path& file,
                    const std::vector<Override>& overrides = {});

// Every key with its documentation (for --help-config and the README/config.yaml consistency test).
struct KeyInfo {
  std::string name;
  std::string type;          // bool | int | float | string | path | int-list
  std::string default_yaml;  // "None" for null
  std::string doc;
  bool added_by_deepzine_cpp;  // false for keys of the original
};
const std::vector<KeyInfo>& all_keys();

}  // namespace deepzine::config
