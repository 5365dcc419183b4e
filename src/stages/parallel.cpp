#include "parallel.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include "deepzine/util/error.h"
#ifdef DEEPZINE_HAVE_DIST
#include "deepzine/dist/dist.h"
#endif

namespace deepzine::stages {

#ifdef DEEPZINE_HAVE_DIST
RankInfo rank_info_from_environment() {
  try {
    dist::RankEnv e = dist::rank_env_from_environment();
    return {e.rank, e.world_size, e.local_rank};
  } catch (const std::invalid_argument& e) {
    throw util::ConfigError(std::string("distributed environment: ") + e.what());
  }
}

struct ParallelTraining::Impl {
  std::unique_ptr<dist::ProcessGroup> group;
  std::unique_ptr<dist::GradientReducer> g, d;
  torch::Device device{torch::kCPU};
};

ParallelTraining::ParallelTraining(const config::Config& cfg, const torch::Device& device, train::TrainerOptions& o)
    : impl_(std::make_unique<Impl>()) {
  const dist::RankEnv env = dist::rank_env_from_environment();
  const bool nccl = device.is_cuda();
  if (nccl && !dist::nccl_available()) {
    throw util::StageError("train: several ranks on CUDA need NCCL, which this LibTorch lacks");
  }
  if (nccl) {
    // NCCL needs one GPU per rank on a machine; sharing one would fail later with an obscure error.
    const int64_t gpus = cfg.gpu_num.empty() ? static_cast<int64_t>(torch::cuda::device_count())
                                             : static_cast<int64_t>(cfg.gpu_num.size());
    if (env.local_rank >= gpus) {
      throw util::StageError("train: local rank " + std::to_string(env.local_rank) + " has no GPU of its own (" +
                             std::to_string(gpus) + (cfg.gpu_num.empty() ? " visible" : " listed in gpu_num") +
                             "); use at most that many processes per machine, or device: cpu");
    }
  }
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.distributed_timeout * 1000));
  try {
    impl_->group = std::make_unique<dist::ProcessGroup>(env, nccl ? dist::Backend::kNccl : dist::Backend::kGloo, timeout);
  } catch (const std::exception& e) {
    throw util::StageError(std::string("train: joining the process group failed: ") + e.what());
  }
  impl_->device = device;
  {
    // One seed for all ranks (random_seed may be unset): same data permutation, so the ranks' shares
    // are disjoint, and the same noise stream, of which each rank takes its share.
    std::vector<torch::Tensor> seed{torch::full({1}, static_cast<int64_t>(o.seed),
                                                torch::TensorOptions().dtype(torch::kLong).device(device))};
    impl_->group->broadcast(seed, 0);
    o.seed = static_cast<uint64_t>(seed[0].item<int64_t>());
  }
  spdlog::info("distributed: rank {} of {} (local rank {}) on {}, {} via {}:{}; effective batch = batch_size x {}",
               env.rank, env.world_size, env.local_rank, device.str(), nccl ? "NCCL" : "Gloo", env.master_addr,
               env.master_port, env.world_size);
  Impl* impl = impl_.get();
  o.parallel.rank = env.rank;
  o.parallel.world_size = env.world_size;
  o.parallel.attach = [impl](model::Generator& g, model::Discriminator& d) {
    // Overlap: each bucket's all-reduce starts while backward is still running (as DDP).
    impl->g = std::make_unique<dist::GradientReducer>(*g, *impl->group, 25u << 20, true);
    impl->d = std::make_unique<dist::GradientReducer>(*d, *impl->group, 25u << 20, true);
    impl->g->broadcast_from_rank0();
    impl->d->broadcast_from_rank0();
  };
  o.parallel.average_d = [impl] { impl->d->finish(); };
  o.parallel.average_g = [impl] { impl->g->finish(); };
  o.parallel.any = [impl](bool flag) {
    std::vector<torch::Tensor> t{torch::full({1}, flag ? 1.0f : 0.0f, torch::TensorOptions().device(impl->device))};
    impl->group->all_reduce_sum(t);
    return t[0].item<float>() > 0.5f;
  };
}
#else
RankInfo rank_info_from_environment() {
  const char* w = std::getenv("WORLD_SIZE");
  if (w && std::string(w) != "1" && std::string(w) != "") {
    throw util::ConfigError("WORLD_SIZE=" + std::string(w) + ": this build has no distributed training "
                            "(install libgloo-dev and rebuild)");
  }
  return {};
}
struct ParallelTraining::Impl {};
ParallelTraining::ParallelTraining(const config::Config&, const torch::Device&, train::TrainerOptions&) {
  throw util::StageError("train: this build has no distributed training (install libgloo-dev and rebuild)");
}
#endif

ParallelTraining::~ParallelTraining() = default;

}  // namespace deepzine::stages
