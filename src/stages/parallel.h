#pragma once
// Data-parallel training for the train stage: reads the torchrun environment (RANK, WORLD_SIZE, ...),
// joins the c10d process group (Gloo on CPU, NCCL on CUDA) and installs the trainer's hooks:
// rank 0's weights broadcast, bucketed gradient averaging of D and G, agreement on stopping.
#include <memory>

#include <torch/types.h>

#include "deepzine/config/config.h"
#include "deepzine/train/trainer.h"

namespace deepzine::stages {

struct RankInfo {
  int rank = 0, world_size = 1, local_rank = 0;
};
// From the environment; throws util::ConfigError naming the variable when malformed.
RankInfo rank_info_from_environment();

class ParallelTraining {
 public:
  // Joins the group (throws util::StageError on a port in use or missing peers, within the
  // config's distributed_timeout) and fills o.parallel.
  ParallelTraining(const config::Config& cfg, const torch::Device& device, train::TrainerOptions& o);
  ~ParallelTraining();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepzine::stages
