#include "deepzine/model/checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

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

TensorMap from_ivalue(const c10::IValue& v, const std::string& what) {
  if (!v.isGenericDict()) throw std::runtime_error(what + " is not a dict");
  TensorMap out;
  for (const auto& e : v.toGenericDict()) out[e.key().toStringRef()] = e.value().toTensor();
  return out;
}

const c10::IValue& get(const GenericDict& d, const std::string& key, const fs::path& file) {
  auto it = d.find(key);
  if (it == d.end()) throw std::runtime_error("checkpoint " + file.string() + " has no '" + key + "' entry");
  return it->value();
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

  fs::create_directories(file.parent_path());
  fs::path temp = file;
  temp += ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("cannot write checkpoint " + temp.string() + " (disk full?)");
  }
  ::sync();  // the rename must not reach the disk before the data
  fs::rename(temp, file);
}

Checkpoint load_checkpoint(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read checkpoint " + file.string());
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  c10::IValue v;
  try {
    v = torch::pickle_load(bytes);
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
    c.G = from_ivalue(get(root, "G", file), "G");
    c.G_ema = from_ivalue(get(root, "G_ema", file), "G_ema");
    c.D = from_ivalue(get(root, "D", file), "D");
    c.opt_G = from_ivalue(get(root, "opt_G", file), "opt_G");
    c.opt_D = from_ivalue(get(root, "opt_D", file), "opt_D");
    c.rng = get(root, "rng", file).toTensor();
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint " + file.string() + " has unexpected contents: " + e.what_without_backtrace());
  }
  return c;
}

LoadedGenerator load_generator_for_inference(const fs::path& file_or_dir, torch::Device device) {
  fs::path file = file_or_dir;
  if (fs::is_directory(file)) file /= "checkpoint.pt";
  if (!fs::exists(file)) throw std::runtime_error("no model at " + file.string());
  return generator_for_inference(load_checkpoint(file), file.string(), device);
}

LoadedGenerator generator_for_inference(const Checkpoint& c, const std::string& source, torch::Device device) {
  LoadedGenerator out;
  out.meta = c.meta;
  out.generator = Generator(c.meta.arch, c.meta.max_resolution);
  load_state(*out.generator, c.G_ema, "checkpoint " + source + " (G_ema)");
  out.generator->to(device);
  out.generator->eval();
  return out;
}

}  // namespace deepzine::model
