#include <dlfcn.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "deepzine/stages/torch_stages.h"
#include "deepzine/util/error.h"

namespace deepzine::stages {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> module_candidates() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  const fs::path dir = ec ? fs::path(".") : exe.parent_path();
  return {dir / kTorchStagesModule, dir / ".." / "lib" / kTorchStagesModule};
}

const TorchStages* load() {
  std::string tried;
  for (const fs::path& candidate : module_candidates()) {
    std::error_code ec;
    if (!fs::exists(candidate, ec)) {
      tried += "\n  " + candidate.string() + ": not there";
      continue;
    }
    // RTLD_GLOBAL: LibTorch's own plugins (CUDA kernels, Gloo) find its symbols.
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
      tried += "\n  " + candidate.string() + ": " + dlerror();
      continue;
    }
    using Entry = const TorchStages* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, kTorchStagesEntry));
    if (!entry) {
      tried += "\n  " + candidate.string() + ": no " + kTorchStagesEntry + " (a module of another version?)";
      continue;
    }
    spdlog::debug("LibTorch stages loaded from {}", candidate.string());
    return entry();
  }
  throw util::StageError(std::string("cannot load the training and sampling stages (") + kTorchStagesModule +
                         "): LibTorch must be installed where the loader finds it (docs/GPU.md); tried:" + tried);
}

}  // namespace

const TorchStages& torch_stages() {
  static std::once_flag once;
  static const TorchStages* stages = nullptr;
  std::call_once(once, [] { stages = load(); });
  return *stages;
}

}  // namespace deepzine::stages
