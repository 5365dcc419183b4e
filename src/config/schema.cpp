// The table of every config key: name, type, default, documentation and how it is parsed.
// Keys of the original DeepZine keep its names, meanings and defaults (deepzine.py, model.py).
#include <cmath>
#include <cstdlib>
#include <string>

#include "deepzine/util/paths.h"
#include "schema_internal.h"

namespace deepzine::config::detail {
namespace {

template <class T>
using Field = T Config::*;

std::string scalar_text(const YAML::Node& v) { return v.IsScalar() ? v.Scalar() : "(a list or map)"; }

bool parse_bool(const YAML::Node& v, bool& out) {
  if (!v.IsScalar()) return false;
  // yaml-cpp accepts true/True/TRUE/yes/on...; the original's configs use True/False.
  try {
    out = v.as<bool>();
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}

bool parse_int(const YAML::Node& v, int64_t& out) {
  if (!v.IsScalar() || v.Scalar().empty()) return false;
  const std::string& s = v.Scalar();
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(s.c_str(), &end, 10);
  if (errno == 0 && end && *end == '\0') {
    out = x;
    return true;
  }
  // "1e3" or "100.0" are accepted when they are whole numbers.
  double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15) {
    out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

bool parse_float(const YAML::Node& v, double& out) {
  if (!v.IsScalar() || v.Scalar().empty()) return false;
  char* end = nullptr;
  double d = std::strtod(v.Scalar().c_str(), &end);
  if (!end || *end != '\0' || !std::isfinite(d)) return false;
  out = d;
  return true;
}

KeyDef make(const char* name, const char* type, const char* def, const char* doc, bool added,
            std::function<void(Config&, const YAML::Node&, Problems&)> set) {
  return KeyDef{KeyInfo{name, type, def, doc, added}, std::move(set)};
}

KeyDef boolean(const char* name, Field<bool> f, const char* def, const char* doc, bool added = false) {
  std::string key = name;
  return make(name, "bool", def, doc, added, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    if (!parse_bool(v, c.*f)) p.add(v.Mark(), key, "expected True or False, got '" + scalar_text(v) + "'");
  });
}

template <class Int>
KeyDef integer(const char* name, Field<Int> f, const char* def, const char* doc, bool added = false) {
  std::string key = name;
  return make(name, "int", def, doc, added, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    int64_t x = 0;
    if (!parse_int(v, x)) {
      p.add(v.Mark(), key, "expected a whole number, got '" + scalar_text(v) + "'");
      return;
    }
    c.*f = static_cast<Int>(x);
  });
}

template <class Int>
KeyDef optional_integer(const char* name, Field<std::optional<Int>> f, const char* doc) {
  std::string key = name;
  return make(name, "int or None", "None", doc, false,
              [f, key](Config& c, const YAML::Node& v, Problems& p) {
                if (is_none(v)) {
                  c.*f = std::nullopt;
                  return;
                }
                int64_t x = 0;
                if (!parse_int(v, x)) {
                  p.add(v.Mark(), key, "expected a whole number or None, got '" + scalar_text(v) + "'");
                  return;
                }
                c.*f = static_cast<Int>(x);
              });
}
KeyDef optional_float(const char* name, Field<std::optional<double>> f, const char* def, const char* doc,
                      bool added = false) {
  std::string key = name;
  return make(name, "float or None", def, doc, added, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    if (is_none(v)) {
      c.*f = std::nullopt;
      return;
    }
    double x = 0;
    if (!parse_float(v, x)) {
      p.add(v.Mark(), key, "expected a number or None, got '" + scalar_text(v) + "'");
      return;
    }
    c.*f = x;
  });
}
KeyDef floating(const char* name, Field<double> f, const char* def, const char* doc, bool added = false) {
  std::string key = name;
  return make(name, "float", def, doc, added, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    if (!parse_float(v, c.*f)) p.add(v.Mark(), key, "expected a number, got '" + scalar_text(v) + "'");
  });
}

KeyDef string(const char* name, Field<std::string> f, const char* def, const char* doc, bool added = false) {
  std::string key = name;
  return make(name, "string", def, doc, added, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    if (!v.IsScalar()) {
      p.add(v.Mark(), key, "expected a single value, got a list or map");
      return;
    }
    c.*f = v.Scalar();
  });
}

KeyDef optional_path(const char* name, Field<std::optional<Path>> f, const char* def, const char* doc,
                     bool added = false) {
  std::string key = name;
  return make(name, "path or None", def, doc, added, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    if (is_none(v)) {
      c.*f = std::nullopt;
      return;
    }
    if (!v.IsScalar()) {
      p.add(v.Mark(), key, "expected a path or None, got a list or map");
      return;
    }
    c.*f = util::expand_user(v.Scalar());
  });
}

KeyDef path(const char* name, Field<Path> f, const char* def, const char* doc) {
  std::string key = name;
  return make(name, "path", def, doc, false, [f, key](Config& c, const YAML::Node& v, Problems& p) {
    if (is_none(v) || !v.IsScalar()) {
      p.add(v.Mark(), key, "expected a folder path");
      return;
    }
    c.*f = util::expand_user(v.Scalar());
  });
}

KeyDef gpu_list(const char* name, const char* doc) {
  return make(name, "int, list of int, or None", "None", doc, false,
              [](Config& c, const YAML::Node& v, Problems& p) {
                c.gpu_num.clear();
                if (is_none(v)) return;
                auto add_one = [&](const YAML::Node& n) {
                  int64_t x = 0;
                  if (!parse_int(n, x) || x < 0) {
                    p.add(n.Mark(), "gpu_num", "expected a CUDA device index >= 0, got '" + scalar_text(n) + "'");
                    return;
                  }
                  c.gpu_num.push_back(static_cast<int>(x));
                };
                if (v.IsSequence()) {
                  for (const auto& n : v) add_one(n);
                } else {
                  add_one(v);
                }
              });
}

std::vector<KeyDef> build_table() {
  using C = Config;
  return {
      // ---- devices and stages
      gpu_list("gpu_num", "CUDA device index to use (None: the first). A list of indices with --nproc "
                          "trains on several GPUs. Without CUDA, training runs on the CPU."),
      string("device", &C::device, "auto", "auto (CUDA when present, else CPU), cpu, or cuda.", true),
      integer("cpu_threads", &C::cpu_threads, "0",
              "Threads for CPU tensor work (training and sampling on the CPU, the reader's page decoding, "
              "SWD); 0: the cores this process may use, shared among the --nproc ranks (OMP_NUM_THREADS, "
              "when set, wins).", true),
      boolean("load_data", &C::load_data, "False", "Run the load_data stage: download PDFs from the "
              "Internet Archive and turn their pages into the HDF5 training set."),
      boolean("train", &C::train, "False", "Run the train stage on data_hdf5."),
      boolean("inference", &C::inference, "False", "Run the inference stage: sample pages from a model."),
      boolean("interpolation", &C::interpolation, "False",
              "Run the interpolation stage: walk the latent space, write frames and a movie."),
      optional_integer("random_seed", &C::random_seed,
                   "Seed for every random choice (latents, shuffling, initialisation). None: random."),
      string("log_level", &C::log_level, "info", "trace, debug, info, warn or error.", true),

      // ---- load_data
      boolean("overwrite", &C::overwrite, "False",
              "Rebuild data_hdf5 even if it exists (False: reuse an existing file)."),
      optional_path("pdf_directory", &C::pdf_directory, "None",
                    "Folder of PDFs: downloads go to pdf_directory/IDENTIFIER/FILE.pdf; your own PDFs "
                    "anywhere below it are used too."),
      optional_path("image_directory", &C::image_directory, "None",
                    "If set, every page is also saved here as a PNG at data_output_size."),
      optional_path("data_hdf5", &C::data_hdf5, "None", "The HDF5 training set (written by load_data)."),
      string("pdf_conversion_program", &C::pdf_conversion_program, "pdftoppm",
             "Accepted for compatibility; pages are rendered in process with poppler."),
      boolean("download_pdf", &C::download_pdf, "True",
              "Download PDFs from internetarchive_collection (False: use what is in pdf_directory)."),
      boolean("convert_pdf", &C::convert_pdf, "True", "Render the PDFs into data_hdf5."),
      boolean("preload_resized_data", &C::preload_resized_data, "True",
              "Accepted for compatibility; all resolutions are always stored and streamed."),
      string("internetarchive_collection", &C::internetarchive_collection, "MBLWHOI",
             "Internet Archive collection identifier (https://archive.org/details/IDENTIFIER)."),
      optional_integer("pdf_num", &C::pdf_num, "Take at most this many items of the collection (None: all)."),
      integer("data_output_size", &C::data_output_size, "1024",
              "Pages are stored as squares of every power of two from 4 up to this size."),
      string("internetarchive_base_url", &C::internetarchive_base_url, "https://archive.org",
             "Internet Archive API root (a mirror, or a local test server).", true),
      integer("download_workers", &C::download_workers, "4", "Concurrent downloads (1-64).", true),
      string("download_glob", &C::download_glob, "*.pdf",
             "Which files of each item to download (shell glob; *_bw.pdf is always skipped).", true),
      integer("download_retries", &C::download_retries, "5",
              "Retries per file after connection errors, timeouts, 5xx, 429 or a wrong md5.", true),
      floating("download_timeout", &C::download_timeout, "60",
               "Seconds a transfer may go without receiving data before it is retried.", true),
      string("page_fit", &C::page_fit, "stretch",
             "How pages become squares: stretch (the original), pad (white borders), crop (centre).", true),
      boolean("compact_grey_pages", &C::compact_grey_pages, "True",
              "Store pages whose three channels are equal once, as one channel (about 40% smaller files; "
              "data_<size> still reads as RGB). False: every page in three channels.", true),
      integer("load_workers", &C::load_workers, "0", "Page rendering processes (0: all cores).", true),
      floating("page_timeout", &C::page_timeout, "120",
               "Seconds one page may take to open and render before its renderer is stopped and the page "
               "skipped (a hanging PDF).", true),

      // ---- train
      path("log_dir", &C::log_dir, "./log", "Checkpoints go to log_dir/<resolution>/; metrics.csv here."),
      path("samples_dir", &C::samples_dir, "./samples",
           "Sample grids go to samples_dir/samples_<resolution>[_Transition]/."),
      integer("model_save_interval_steps", &C::model_save_interval_steps, "1000", "Checkpoint every N steps."),
      integer("model_sample_interval_steps", &C::model_sample_interval_steps, "400", "Sample grid every N steps."),
      integer("model_loss_output_interval_steps", &C::model_loss_output_interval_steps, "40",
              "Log losses every N steps."),
      optional_integer("starting_depth", &C::starting_depth,
                         "Alternative to gan_starting_size: depth d means size 2^(d+1)."),
      optional_integer("progressive_depth", &C::progressive_depth,
                         "Alternative to gan_output_size: depth d means size 2^(d+1)."),
      integer("gan_starting_size", &C::gan_starting_size, "4",
              "First resolution trained; larger than 4 continues from the model saved at half of it."),
      integer("gan_output_size", &C::gan_output_size, "128", "Final resolution of the GAN (power of two)."),
      floating("learning_rate", &C::learning_rate, "0.003",
               "Adam learning rate of D and G, for layers with the equalized learning rate (Karras et al. used "
               "0.001-0.003; 0.003 learned fastest, measured). The original's 0.0001 was for weights without "
               "equalized learning rate and is a 10-25x smaller step here (used as given, with a warning)."),
      integer("iterations_per_stage", &C::iterations_per_stage, "10000",
              "Steps of each stage (each resolution has a fade-in stage and a stable stage)."),
      integer("latent_size", &C::latent_size, "128", "Dimension of the latent vector."),
      optional_integer("channels", &C::channels,
                         "3 (RGB) or 1 (grey) for data and model. None: the training set decides (1 when every "
                         "page of data_hdf5 is grey, else 3); load_data then renders RGB and stores grey pages once."),
      integer("batch_size", &C::batch_size, "16", "Training batch size (per process)."),
      integer("batch_size_reduction_transition_size", &C::batch_size_reduction_transition_size, "128",
              "From this resolution on, reduced_batch_size is used."),
      optional_integer("batch_size_reduction_transition_depth", &C::batch_size_reduction_transition_depth,
                         "Depth form of batch_size_reduction_transition_size (wins when set)."),
      integer("reduced_batch_size", &C::reduced_batch_size, "4", "Batch size at large resolutions."),
      integer("max_filter", &C::max_filter, "128", "Filters of each convolution at low resolutions."),
      integer("filter_num_reduction_transition_size", &C::filter_num_reduction_transition_size, "128",
              "From this resolution on, filters halve at every doubling."),
      optional_integer("filter_num_reduction_transition_depth", &C::filter_num_reduction_transition_depth,
                         "Depth form of filter_num_reduction_transition_size (wins when set)."),
      integer("discriminator_updates", &C::discriminator_updates, "1", "D updates per step."),
      integer("generator_updates", &C::generator_updates, "1", "G updates per step."),
      floating("ema_kimg", &C::ema_kimg, "10",
               "Half-life, in thousands of images, of the moving average of G's weights that makes samples and "
               "inference images.", true),
      floating("ema_rampup", &C::ema_rampup, "0.05",
               "The average's half-life never exceeds this fraction of the images seen at the current "
               "resolution, so short runs and fresh blocks are not averaged with their random start (0: off).",
               true),
      optional_float("ema_beta", &C::ema_beta, "None",
                     "A fixed decay per step for the moving average instead of ema_kimg (ema_rampup still applies).",
                     true),
      string("augment", &C::augment, "translation,cutout,color",
             "Augmentation of D's inputs, reals and fakes alike (DiffAugment): none, or a comma-separated list of "
             "translation (white padding), cutout (white), color (brightness, contrast). Never flips.", true),
      floating("augment_probability", &C::augment_probability, "0.25",
               "Chance that each transform of augment applies to each image (always-on transforms hide from D "
               "that G's pages are alike, and G collapses to one page).", true),
      integer("swd_image_num", &C::swd_image_num, "1024",
              "Images per side for the sliced Wasserstein distance at each stage end (0: off).", true),
      boolean("cuda_kernels", &C::cuda_kernels, "True", "Use the fused CUDA kernels on GPU.", true),
      boolean("mixed_precision", &C::mixed_precision, "False",
              "bf16 autocast on GPU where numerically safe (gradient penalty and optimiser stay fp32).", true),
      floating("distributed_timeout", &C::distributed_timeout, "300",
               "Seconds before a silent rank stops a multi-process run with an error.", true),

      // ---- inference and interpolation
      boolean("pretrained_model", &C::pretrained_model, "False",
              "Load the original DeepZine's TensorFlow checkpoints (legacy architecture)."),
      optional_path("inference_model_directory", &C::inference_model_directory, "None",
                    "Folder with one model per resolution; <gan_output_size>/ is used."),
      optional_path("inference_model_path", &C::inference_model_path, "None",
                    "A model folder or checkpoint file (wins over inference_model_directory)."),
      optional_path("inference_output_directory", &C::inference_output_directory, "None",
                    "Where inference images, interpolation frames and the movie go."),
      string("inference_output_format", &C::inference_output_format, "png", "png or jpg."),
      integer("inference_batch_size", &C::inference_batch_size, "16",
              "Images generated per batch (independent of batch_size)."),
      integer("inference_output_num", &C::inference_output_num, "100", "Number of images to sample."),
      optional_path("inference_input_latent", &C::inference_input_latent, "None",
                    ".npy float32 [N, latent_size]: generate these N latents instead of random ones."),
      string("interpolation_method", &C::interpolation_method, "slerp", "slerp, linear or tozero."),
      optional_path("interpolation_latents", &C::interpolation_latents, "None",
                    ".npy float32 [N, latent_size]: the latents to walk through."),
      integer("interpolation_frames", &C::interpolation_frames, "100", "Frames between two latents."),
      integer("interpolation_vector_num", &C::interpolation_vector_num, "10", "Number of latents to visit."),
      floating("movie_framerate", &C::movie_framerate, "30", "Frames per second of interpolation.mp4.", true),
  };
}

}  // namespace

const std::vector<KeyDef>& key_table() {
  static const std::vector<KeyDef> table = build_table();
  return table;
}

bool is_none(const YAML::Node& value) {
  if (!value.IsDefined() || value.IsNull()) return true;
  if (!value.IsScalar()) return false;
  const std::string& s = value.Scalar();
  return s.empty() || s == "None" || s == "null" || s == "~" || s == "Null" || s == "NULL";
}

}  // namespace deepzine::config::detail

namespace deepzine::config {
const std::vector<KeyInfo>& all_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> out;
    for (const auto& def : detail::key_table()) out.push_back(def.info);
    return out;
  }();
  return keys;
}
}  // namespace deepzine::config
