// Loading and validating the YAML config. Every problem of a file is reported at once, each naming
// the file, line, key and what is allowed; nothing runs when any is found.
#include "deepzine/config/config.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "deepzine/model/schedule.h"
#include "deepzine/util/error.h"
#include "deepzine/util/regular_file.h"
#include "schema_internal.h"

namespace deepzine::config {
namespace detail {
namespace {
constexpr size_t kShownKeyLength = 80;
}  // namespace

void Problems::add(const YAML::Mark& mark, const std::string& key, const std::string& what) {
  std::string where = file;
  const auto set = from_set.find(key);
  if (set != from_set.end()) where = "--set " + set->second;
  else if (!mark.is_null()) where += ":" + std::to_string(mark.line + 1);
  // A key of a damaged file may be any length: name it by its start.
  const std::string shown = key.size() <= kShownKeyLength ? key : key.substr(0, kShownKeyLength) + "...";
  messages.push_back(where + ": key '" + shown + "': " + what);
}

}  // namespace detail

namespace {
using detail::Problems;

constexpr size_t kMostProblemsShown = 50;
constexpr int kMostHints = 10;

// Levenshtein distance of a and b, or any value above `cutoff` once it must exceed it (every
// later row's minimum is at least this row's).
size_t edit_distance(const std::string& a, const std::string& b, size_t cutoff) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    size_t row_min = cur[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min(substitute, std::min(prev[j], cur[j - 1]) + 1);
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > cutoff) return row_min;
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The known key nearest to a misspelt one, or "" when none is a plausible typo. The distance is at
// least the difference of the lengths, so names too short or too long are never compared: a key of
// thousands of characters (a damaged or hostile file) costs nothing instead of seconds.
std::string closest_key(const std::string& key) {
  const size_t limit = std::max<size_t>(3, key.size() / 3);
  std::string best;
  size_t best_d = limit + 1;
  for (const auto& def : detail::key_table()) {
    const std::string& name = def.info.name;
    const size_t length_gap = key.size() > name.size() ? key.size() - name.size() : name.size() - key.size();
    if (length_gap >= best_d) continue;
    const size_t d = edit_distance(key, name, best_d - 1);
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  return best;  // only a plausible typo: within `limit`
}

const detail::KeyDef* find_key(const std::string& name) {
  for (const auto& def : detail::key_table()) {
    if (def.info.name == name) return &def;
  }
  return nullptr;
}

// Line of each key in the file (for checks that involve several keys).
struct Lines {
  std::map<std::string, YAML::Mark> marks;
  YAML::Mark of(const std::string& key) const {
    auto it = marks.find(key);
    return it == marks.end() ? YAML::Mark::null_mark() : it->second;
  }
};

void check_power_of_two(Problems& p, const Lines& l, const std::string& key, int64_t v) {
  if (!model::is_power_of_two(v) || v < 4 || v > 16384) {
    p.add(l.of(key), key, std::to_string(v) + " is not allowed: sizes are powers of two from 4 to 16384 "
                              "(4, 8, 16, ..., 128, 256, 512, 1024, ...)");
  }
}

void check_range(Problems& p, const Lines& l, const std::string& key, double v, double lo, double hi,
                 const std::string& allowed) {
  if (!(v >= lo && v <= hi)) {
    std::ostringstream s;
    s << v << " is out of range (allowed: " << allowed << ")";
    p.add(l.of(key), key, s.str());
  }
}

void check_choice(Problems& p, const Lines& l, const std::string& key, const std::string& v,
                  const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  p.add(l.of(key), key, "'" + v + "' is not one of the allowed values: " + list);
}

// `augment`: none, or a comma-separated list of the transforms train/augment.h implements.
void check_augment(Problems& p, const Lines& l, const std::string& v) {
  if (v == "none" || v == "None") return;
  std::stringstream list(v);
  std::string word;
  while (std::getline(list, word, ',')) {
    word.erase(0, word.find_first_not_of(" \t"));
    word.erase(word.find_last_not_of(" \t") + 1);
    if (word != "translation" && word != "cutout" && word != "color" && word != "colour") {
      p.add(l.of("augment"), "augment",
            "'" + word + "' is not an augmentation (allowed: none, or a comma-separated list of translation, cutout, "
            "color; flips and rotations are left out on purpose: they teach mirrored text)");
      return;
    }
  }
}

void validate(const Config& c, const Lines& l, Problems& p) {
  for (const char* key : {"data_output_size", "gan_output_size", "gan_starting_size",
                          "batch_size_reduction_transition_size", "filter_num_reduction_transition_size"}) {
    int64_t v = key == std::string("data_output_size")                       ? c.data_output_size
                : key == std::string("gan_output_size")                      ? c.gan_output_size
                : key == std::string("gan_starting_size")                    ? c.gan_starting_size
                : key == std::string("batch_size_reduction_transition_size") ? c.batch_size_reduction_transition_size
                                                                             : c.filter_num_reduction_transition_size;
    check_power_of_two(p, l, key, v);
  }
  bool depths_in_range = true;
  for (const char* key : {"starting_depth", "progressive_depth"}) {
    auto v = key == std::string("starting_depth") ? c.starting_depth : c.progressive_depth;
    if (v && (*v < 1 || *v > 13)) {
      p.add(l.of(key), key, std::to_string(*v) + " is out of range (allowed: 1 to 13; depth d means size 2^(d+1))");
      depths_in_range = false;
    }
  }
  // The sizes below come from the depths (2^(d+1)): only depths in range give sizes (fuzz_config found
  // `progressive_depth: 61` shifting past an int, and a bogus "larger than data_output_size" after).
  const int out = depths_in_range ? c.output_size() : 0, start = depths_in_range ? c.starting_size() : 0;
  if (p.messages.empty() && start > out) {
    p.add(l.of("gan_starting_size"), "gan_starting_size",
          std::to_string(start) + " is larger than gan_output_size " + std::to_string(out));
  }
  if (depths_in_range && c.load_data && c.train && c.convert_pdf && out > c.data_output_size) {
    p.add(l.of("gan_output_size"), "gan_output_size",
          std::to_string(out) + " is larger than data_output_size " + std::to_string(c.data_output_size) +
              ": the data loaded would not contain " + std::to_string(out) + "x" + std::to_string(out) +
              " pages (raise data_output_size or lower gan_output_size)");
  }
  auto positive = [&](const std::string& key, double v, double hi = 1e12) {
    check_range(p, l, key, v, 1, hi, "1 to " + (hi >= 1e12 ? std::string("any") : std::to_string(int64_t(hi))));
  };
  positive("batch_size", c.batch_size, 65536);
  positive("reduced_batch_size", c.reduced_batch_size, 65536);
  positive("iterations_per_stage", c.iterations_per_stage);
  positive("latent_size", c.latent_size, 65536);
  positive("max_filter", c.max_filter, 65536);
  positive("discriminator_updates", c.discriminator_updates, 100);
  positive("generator_updates", c.generator_updates, 100);
  positive("model_save_interval_steps", c.model_save_interval_steps);
  positive("model_sample_interval_steps", c.model_sample_interval_steps);
  positive("model_loss_output_interval_steps", c.model_loss_output_interval_steps);
  positive("inference_batch_size", c.inference_batch_size, 65536);
  positive("interpolation_frames", c.interpolation_frames, 1e7);
  positive("download_workers", c.download_workers, 64);
  check_range(p, l, "interpolation_vector_num", c.interpolation_vector_num, 2, 1e6, "2 or more");
  check_range(p, l, "inference_output_num", c.inference_output_num, 0, 1e9, "0 or more");
  check_range(p, l, "download_retries", c.download_retries, 0, 100, "0 to 100");
  check_range(p, l, "download_timeout", c.download_timeout, 0.1, 86400, "0.1 to 86400 seconds");
  check_range(p, l, "load_workers", c.load_workers, 0, 1024, "0 (all cores) to 1024");
  check_range(p, l, "page_timeout", c.page_timeout, 0.1, 86400, "0.1 to 86400 seconds");
  check_range(p, l, "learning_rate", c.learning_rate, 1e-12, 10, "a positive number such as 0.0001");
  if (c.ema_beta) check_range(p, l, "ema_beta", *c.ema_beta, 0, 0.999999999, "0 <= ema_beta < 1, or None");
  check_range(p, l, "ema_kimg", c.ema_kimg, 0, 1e6, "0 (no averaging) or more thousands of images");
  check_range(p, l, "ema_rampup", c.ema_rampup, 0, 1, "0 (off) to 1");
  check_range(p, l, "augment_probability", c.augment_probability, 0, 1, "0 to 1");
  check_range(p, l, "swd_image_num", c.swd_image_num, 0, 1e6, "0 (off) or more");
  check_range(p, l, "movie_framerate", c.movie_framerate, 0.1, 1000, "0.1 to 1000");
  check_range(p, l, "distributed_timeout", c.distributed_timeout, 1, 86400, "1 to 86400 seconds");
  if (c.pdf_num && *c.pdf_num < 1) check_range(p, l, "pdf_num", double(*c.pdf_num), 1, 1e12, "1 or more, or None");
  if (c.channels && *c.channels != 1 && *c.channels != 3) {
    p.add(l.of("channels"), "channels", std::to_string(*c.channels) + " is not allowed (allowed: 1, 3 or None)");
  }
  check_augment(p, l, c.augment);
  check_choice(p, l, "page_fit", c.page_fit, {"stretch", "pad", "crop"});
  check_choice(p, l, "interpolation_method", c.interpolation_method, {"slerp", "linear", "tozero"});
  check_choice(p, l, "inference_output_format", c.inference_output_format, {"png", "jpg", "jpeg"});
  check_choice(p, l, "device", c.device, {"auto", "cpu", "cuda"});
  check_range(p, l, "cpu_threads", c.cpu_threads, 0, 1024, "0 (the usable cores) to 1024");
  check_choice(p, l, "log_level", c.log_level, {"trace", "debug", "info", "warn", "error"});
  if (!c.download_glob.empty() && c.download_glob.find('/') != std::string::npos) {
    p.add(l.of("download_glob"), "download_glob", "must match file names, without '/'");
  }
  if (c.internetarchive_base_url.rfind("http://", 0) != 0 && c.internetarchive_base_url.rfind("https://", 0) != 0) {
    p.add(l.of("internetarchive_base_url"), "internetarchive_base_url",
          "'" + c.internetarchive_base_url + "' must start with https:// (or http:// for a local server)");
  }

  // Filters must not vanish at the final resolution.
  if (p.messages.empty()) {
    model::ArchitectureSpec arch;
    arch.max_filter = c.max_filter;
    arch.filter_reduction_depth = c.filter_num_reduction_transition_depth.value_or(
        model::log2_int(c.filter_num_reduction_transition_size) - 1);
    arch.legacy_filters = c.pretrained_model;
    if (arch.filters(out) < 1) {
      p.add(l.of("max_filter"), "max_filter",
            std::to_string(c.max_filter) + " halved from filter_num_reduction_transition_size " +
                std::to_string(c.filter_num_reduction_transition_size) + " leaves no filters at " +
                std::to_string(out) + "x" + std::to_string(out) +
                " (raise max_filter or filter_num_reduction_transition_size)");
    }
  }

  // Paths the enabled stages need.
  auto need = [&](bool enabled, const std::optional<Path>& v, const std::string& key, const std::string& stage) {
    if (enabled && !v) p.add_plain(p.file + ": key '" + key + "' must be set to run " + stage);
  };
  need(c.load_data, c.data_hdf5, "data_hdf5", "load_data");
  need(c.load_data && (c.download_pdf || c.convert_pdf), c.pdf_directory, "pdf_directory", "load_data");
  need(c.train, c.data_hdf5, "data_hdf5", "train");
  need(c.inference, c.inference_output_directory, "inference_output_directory", "inference");
  need(c.interpolation, c.inference_output_directory, "inference_output_directory", "interpolation");
  if ((c.inference || c.interpolation) && !c.inference_model_path && !c.inference_model_directory) {
    p.add_plain(p.file + ": key 'inference_model_path' or 'inference_model_directory' must be set to run " +
                std::string(c.inference ? "inference" : "interpolation"));
  }
}

void apply_override(YAML::Node& root, const Override& o, Problems& p) {
  YAML::Node value;
  try {
    value = YAML::Load(o.yaml_value);
  } catch (const YAML::Exception& e) {
    p.add_plain("--set " + o.key + "=" + o.yaml_value + ": the value is not valid YAML (" + e.msg + ")");
    return;
  }
  if (!find_key(o.key)) {
    std::string hint = closest_key(o.key);
    p.add_plain("--set " + o.key + ": unknown key" + (hint.empty() ? "" : " (did you mean " + hint + "?)"));
    return;
  }
  root[o.key] = value.IsNull() ? YAML::Node(YAML::NodeType::Null) : value;
  p.from_set[o.key] = o.key + "=" + o.yaml_value;
}

[[noreturn]] void fail(const Problems& p) {
  std::string msg = p.messages.size() == 1 ? "invalid config: " : "invalid config (" +
                                                 std::to_string(p.messages.size()) + " problems):";
  // Every problem of a hand-written file, but not the thousands a damaged one may hold.
  const size_t shown = std::min(p.messages.size(), kMostProblemsShown);
  for (size_t i = 0; i < shown; ++i) msg += (p.messages.size() == 1 ? "" : "\n  ") + p.messages[i];
  if (shown < p.messages.size()) msg += "\n  ... and " + std::to_string(p.messages.size() - shown) + " more";
  throw util::ConfigError(msg);
}

}  // namespace

int Config::output_depth() const { return model::log2_int(output_size()) - 1; }
int Config::starting_size() const { return starting_depth ? 1 << (*starting_depth + 1) : gan_starting_size; }
int Config::output_size() const { return progressive_depth ? 1 << (*progressive_depth + 1) : gan_output_size; }

Config load_config(const std::filesystem::path& file, const std::vector<Override>& overrides) {
  if (!std::filesystem::exists(file)) throw util::ConfigError("cannot read config file " + file.string() + " (no such file)");
  std::string text;
  try {
    // A regular file of at most 16 MiB: a FIFO or a device named by mistake is refused, not waited on.
    text = util::read_regular_file(file, 16 << 20, "config file");
  } catch (const std::runtime_error& e) {
    throw util::ConfigError(e.what());
  }
  return parse_config(text, file, overrides);
}

Config parse_config(const std::string& text, const std::filesystem::path& file, const std::vector<Override>& overrides) {
  Problems p;
  p.file = file.string();
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw util::ConfigError(file.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);  // an empty file means all defaults
  if (!root.IsMap()) {
    throw util::ConfigError(file.string() + ": the config must be a map of 'key: value' lines");
  }
  for (const auto& o : overrides) apply_override(root, o, p);

  Config cfg;
  cfg.source_file = file;
  Lines lines;
  int unknown_keys = 0;
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) {  // "[a, b]: 1" or "{a: b}: 1": YAML allows it, a config does not
      p.add(kv.first.Mark(), "(a list or map)", "is not a key name; each line of a config is 'name: value'");
      continue;
    }
    const std::string key = kv.first.Scalar();
    lines.marks[key] = kv.first.Mark();
    const detail::KeyDef* def = find_key(key);
    if (!def) {
      // A hint for the first few unknown keys only: a file with dozens is not a file of typos.
      const std::string hint = ++unknown_keys <= kMostHints ? closest_key(key) : std::string();
      p.add(kv.first.Mark(), key, "unknown key" + (hint.empty() ? std::string() : " (did you mean " + hint + "?)"));
      continue;
    }
    def->set(cfg, kv.second, p);
  }
  if (!p.messages.empty()) fail(p);
  validate(cfg, lines, p);
  if (!p.messages.empty()) fail(p);
  return cfg;
}

}  // namespace deepzine::config
