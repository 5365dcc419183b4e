#include "deepzine/model/checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#ifdef DEEPZINE_HAVE_LIBZIP
#include <zip.h>
#endif

#include <limits>
#include <stdexcept>

#include "deepzine/util/atomic_file.h"
#include "deepzine/util/regular_file.h"

namespace deepzine::model {
namespace fs = std::filesystem;
namespace {

using GenericDict = c10::Dict<c10::IValue, c10::IValue>;

GenericDict new_dict() { return GenericDict(c10::StringType::get(), c10::AnyType::get()); }

c10::IValue to_ivalue(const TensorMap& m) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [k, v] : m) d.insert(k, v.detach().to(torch::kCPU).contiguous());
  return d;
}

// LibTorch's unpickler takes a tensor's sizes, strides and offset from the pickle and its bytes from
// another record, without checking that they fit: a damaged file would read outside the storage
// (found by fuzz/fuzz_checkpoint). Every tensor is checked before any use.
void check_storage(const at::Tensor& t, const std::string& name, const fs::path& file) {
  auto refuse = [&](const std::string& why) {
    throw std::runtime_error("checkpoint " + file.string() + " is corrupt: tensor '" + name + "' " + why);
  };
  if (!t.defined()) refuse("is missing");
  if (t.layout() != at::kStrided || t.is_quantized()) refuse("is not a plain dense tensor");
  if (t.numel() == 0) return;
  int64_t last = t.storage_offset();
  if (last < 0) refuse("has a negative offset");
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.stride(d) < 0) refuse("has a negative stride");
    if (t.size(d) > 1 && t.stride(d) > (std::numeric_limits<int64_t>::max() - last) / (t.size(d) - 1)) refuse("is too large");
    last += (t.size(d) - 1) * t.stride(d);
  }
  const uint64_t needed = (static_cast<uint64_t>(last) + 1) * t.element_size();
  if (!t.storage().data()) refuse("has no data (its record is missing or empty)");
  if (t.storage().nbytes() < needed) {
    refuse("claims " + std::to_string(needed) + " bytes of a " + std::to_string(t.storage().nbytes()) + "-byte record");
  }
}

TensorMap from_ivalue(const c10::IValue& v, const std::string& what, const fs::path& file) {
  if (!v.isGenericDict()) throw std::runtime_error("checkpoint " + file.string() + ": " + what + " is not a dict");
  TensorMap out;
  for (const auto& e : v.toGenericDict()) {
    const std::string name = what + "." + e.key().toStringRef();
    const at::Tensor t = e.value().toTensor();
    check_storage(t, name, file);
    out[e.key().toStringRef()] = t;
  }
  return out;
}

const c10::IValue& get(const GenericDict& d, const std::string& key, const fs::path& file) {
  auto it = d.find(key);
  if (it == d.end()) throw std::runtime_error("checkpoint " + file.string() + " has no '" + key + "' entry");
  return it->value();
}

constexpr uint64_t kMaxCheckpointBytes = uint64_t(64) << 30;

// The zip container (PyTorch's and torch::pickle_save's format) keeps a CRC-32 of every record;
// LibTorch's reader does not check them, so flipped bits in weights would load silently.
void verify_zip_crcs(const std::string& bytes, const fs::path& file) {
#ifdef DEEPZINE_HAVE_LIBZIP
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  zip_t* archive = source ? zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error) : nullptr;
  if (!archive) {
    const std::string why = zip_error_strerror(&error);
    if (source) zip_source_free(source);
    zip_error_fini(&error);
    throw std::runtime_error("checkpoint " + file.string() + " is corrupt or truncated (its zip container: " + why + ")");
  }
  std::string bad;
  std::vector<char> buffer(1 << 16);
  const zip_int64_t entries = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < entries && bad.empty(); ++i) {
    zip_file_t* entry = zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0);
    if (!entry) {
      bad = std::string(zip_get_name(archive, static_cast<zip_uint64_t>(i), 0) ? zip_get_name(archive, static_cast<zip_uint64_t>(i), 0) : "?");
      break;
    }
    zip_int64_t n = 0;
    while ((n = zip_fread(entry, buffer.data(), buffer.size())) > 0) {
    }
    if (n < 0) bad = zip_get_name(archive, static_cast<zip_uint64_t>(i), 0);  // CRC mismatch or a short record
    zip_fclose(entry);
  }
  zip_discard(archive);
  zip_error_fini(&error);
  if (!bad.empty()) {
    throw std::runtime_error("checkpoint " + file.string() + " is corrupt: record " + bad +
                             " fails its CRC-32 check (damaged on disk or in a copy); use another copy or an earlier "
                             "checkpoint");
  }
#else
  (void)bytes;
  (void)file;
#endif
}

bool power_of_two_in(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi && (v & (v - 1)) == 0; }

// Sizes a file declares are checked before anything is allocated for them.
void check_meta(const CheckpointMeta& m, const fs::path& file) {
  auto refuse = [&](const std::string& what) {
    throw std::runtime_error("checkpoint " + file.string() + " has an impossible " + what +
                             " in its meta; it is damaged or not a deepzine model");
  };
  if (m.arch.latent_size < 1 || m.arch.latent_size > 8192) refuse("latent_size " + std::to_string(m.arch.latent_size));
  if (m.arch.channels != 1 && m.arch.channels != 3) refuse("channel count " + std::to_string(m.arch.channels));
  if (m.arch.max_filter < 1 || m.arch.max_filter > 8192) refuse("max_filter " + std::to_string(m.arch.max_filter));
  if (m.arch.filter_reduction_depth < 0 || m.arch.filter_reduction_depth > 20) {
    refuse("filter_reduction_depth " + std::to_string(m.arch.filter_reduction_depth));
  }
  if (!power_of_two_in(m.max_resolution, 4, 1 << 14)) refuse("max_resolution " + std::to_string(m.max_resolution));
  if (!power_of_two_in(m.resolution, 4, m.max_resolution)) refuse("resolution " + std::to_string(m.resolution));
}

}  // namespace

TensorMap state_of(const torch::nn::Module& module) {
  TensorMap out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value().detach().to(torch::kCPU).clone();
  for (const auto& b : module.named_buffers()) out[b.key()] = b.value().detach().to(torch::kCPU).clone();
  return out;
}

void load_state(torch::nn::Module& module, const TensorMap& state, const std::string& what) {
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& name, torch::Tensor& target) {
    auto it = state.find(name);
    if (it == state.end()) throw std::runtime_error(what + ": missing tensor '" + name + "'");
    if (it->second.is_floating_point() && !torch::isfinite(it->second).all().item<bool>()) {
      throw std::runtime_error(what + ": tensor '" + name + "' holds NaN or infinite values; the model is broken "
                               "(training diverged, or the file is damaged): use an earlier checkpoint");
    }
    if (it->second.sizes() != target.sizes()) {
      std::ostringstream s;
      s << what << ": tensor '" << name << "' has shape " << it->second.sizes() << ", the model expects "
        << target.sizes();
      throw std::runtime_error(s.str());
    }
    target.copy_(it->second);
  };
  for (auto& p : module.named_parameters()) assign(p.key(), p.value());
  for (auto& b : module.named_buffers()) assign(b.key(), b.value());
}

void save_checkpoint(const fs::path& file, const Checkpoint& c) {
  GenericDict meta = new_dict();
  meta.insert("latent_size", static_cast<int64_t>(c.meta.arch.latent_size));
  meta.insert("channels", static_cast<int64_t>(c.meta.arch.channels));
  meta.insert("max_filter", static_cast<int64_t>(c.meta.arch.max_filter));
  meta.insert("filter_reduction_depth", static_cast<int64_t>(c.meta.arch.filter_reduction_depth));
  meta.insert("legacy_filters", c.meta.arch.legacy_filters);
  meta.insert("max_resolution", static_cast<int64_t>(c.meta.max_resolution));
  meta.insert("resolution", static_cast<int64_t>(c.meta.resolution));
  meta.insert("transition", c.meta.transition);
  meta.insert("alpha", c.meta.alpha);
  meta.insert("stage_index", static_cast<int64_t>(c.meta.stage_index));
  meta.insert("stage_step", c.meta.stage_step);
  meta.insert("global_step", c.meta.global_step);
  meta.insert("images_seen", c.meta.images_seen);
  meta.insert("fingerprint", c.meta.fingerprint);
  GenericDict root = new_dict();
  root.insert("format", std::string("deepzine-checkpoint"));
  root.insert("version", static_cast<int64_t>(1));
  root.insert("meta", meta);
  root.insert("G", to_ivalue(c.G));
  root.insert("G_ema", to_ivalue(c.G_ema));
  root.insert("D", to_ivalue(c.D));
  root.insert("opt_G", to_ivalue(c.opt_G));
  root.insert("opt_D", to_ivalue(c.opt_D));
  root.insert("rng", c.rng.defined() ? c.rng : torch::empty({0}, torch::kUInt8));
  const std::vector<char> bytes = torch::pickle_save(root);
  // Temporary sibling, checked writes, fsync, read back and compared, then renamed (util/atomic_file.h):
  // a full disk leaves the previous checkpoint and no temporary file behind.
  util::write_file_atomic(file, std::string_view(bytes.data(), bytes.size()));
}

Checkpoint load_checkpoint(const fs::path& file) {
  return parse_checkpoint(util::read_regular_file(file, kMaxCheckpointBytes, "checkpoint"), file);
}

Checkpoint parse_checkpoint(const std::string& bytes, const fs::path& file) {
  verify_zip_crcs(bytes, file);
  c10::IValue v;
  if (bytes.empty()) throw std::runtime_error("checkpoint " + file.string() + " is corrupt or truncated (it is empty)");
  try {
    v = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const c10::Error& e) {
    // LibTorch's first line says what failed; the rest is its C++ stack, of no use to a user.
    std::string why = e.what_without_backtrace();
    why = why.substr(0, std::min<size_t>(why.find('\n'), 200));
    throw std::runtime_error("checkpoint " + file.string() + " is corrupt or truncated (" + why + ")");
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint " + file.string() + " is corrupt or truncated (" +
                             std::string(e.what()).substr(0, 200) + ")");
  }
  if (!v.isGenericDict()) throw std::runtime_error(file.string() + " is not a deepzine checkpoint");
  GenericDict root = v.toGenericDict();
  if (get(root, "format", file).toStringRef() != "deepzine-checkpoint") {
    throw std::runtime_error(file.string() + " is not a deepzine checkpoint");
  }
  Checkpoint c;
  try {
    GenericDict m = get(root, "meta", file).toGenericDict();
    c.meta.arch.latent_size = static_cast<int>(get(m, "latent_size", file).toInt());
    c.meta.arch.channels = static_cast<int>(get(m, "channels", file).toInt());
    c.meta.arch.max_filter = static_cast<int>(get(m, "max_filter", file).toInt());
    c.meta.arch.filter_reduction_depth = static_cast<int>(get(m, "filter_reduction_depth", file).toInt());
    c.meta.arch.legacy_filters = get(m, "legacy_filters", file).toBool();
    c.meta.max_resolution = static_cast<int>(get(m, "max_resolution", file).toInt());
    c.meta.resolution = static_cast<int>(get(m, "resolution", file).toInt());
    c.meta.transition = get(m, "transition", file).toBool();
    c.meta.alpha = get(m, "alpha", file).toDouble();
    c.meta.stage_index = static_cast<int>(get(m, "stage_index", file).toInt());
    c.meta.stage_step = get(m, "stage_step", file).toInt();
    c.meta.global_step = get(m, "global_step", file).toInt();
    c.meta.images_seen = get(m, "images_seen", file).toInt();
    c.meta.fingerprint = get(m, "fingerprint", file).toStringRef();
    c.G = from_ivalue(get(root, "G", file), "G", file);
    c.G_ema = from_ivalue(get(root, "G_ema", file), "G_ema", file);
    c.D = from_ivalue(get(root, "D", file), "D", file);
    c.opt_G = from_ivalue(get(root, "opt_G", file), "opt_G", file);
    c.opt_D = from_ivalue(get(root, "opt_D", file), "opt_D", file);
    c.rng = get(root, "rng", file).toTensor();
    check_storage(c.rng, "rng", file);
  } catch (const c10::Error& e) {
    // The message only: LibTorch's own (a type mismatch inside IValue) means nothing to a user.
    throw std::runtime_error("checkpoint " + file.string() + " has unexpected contents (an entry of the wrong type); "
                             "it is damaged or not a deepzine checkpoint");
  }
  check_meta(c.meta, file);
  return c;
}

}  // namespace deepzine::model
