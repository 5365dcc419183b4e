// Data-parallel building blocks on LibTorch's c10d: the torchrun rank environment, a process group
// (Gloo on CPU, NCCL where LibTorch has CUDA) and a gradient reducer for a module.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace deepzine::dist {

// The rank environment as torchrun sets it (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
struct RankEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  std::uint16_t master_port = 29500;
  bool distributed() const { return world_size > 1; }
};

// Reads the environment. Without WORLD_SIZE (or WORLD_SIZE=1) it is a single process. Inconsistent or
// malformed values throw std::invalid_argument naming the variable.
RankEnv rank_env_from_environment();

enum class Backend { kGloo, kNccl };

// A c10d process group. The rendezvous is a TCPStore hosted by rank 0 at master_addr:master_port.
class ProcessGroup {
 public:
  // Throws std::runtime_error with a clear message when rank 0 cannot bind the port (in use) or
  // the others cannot reach rank 0 within `timeout`.
  ProcessGroup(const RankEnv& env, Backend backend, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;

  // Sum all-reduce in place, of several tensors (same device) as one call; returns when done.
  void all_reduce_sum(std::vector<at::Tensor>& tensors);
  // Starts a sum all-reduce; wait with wait().
  struct Pending;
  std::shared_ptr<Pending> all_reduce_sum_async(std::vector<at::Tensor>& tensors);
  void wait(const std::shared_ptr<Pending>& pending);
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when this LibTorch was built with a CUDA NCCL process group.
bool nccl_available();

// Averages a module's gradients across ranks in buckets of about `bucket_bytes`. Gradients are
// flattened per bucket into one contiguous buffer, all-reduced (sum) and scaled by 1/world_size.
// With overlap=true, hooks on the parameters launch a bucket's all-reduce as soon as all of its
// gradients are ready during backward (reverse registration order, as DDP); finish() waits for all
// buckets and writes the averages back. Without overlap, finish() does all the work after backward.
class GradientReducer {
 public:
  GradientReducer(torch::nn::Module& module, ProcessGroup& group,
                  std::size_t bucket_bytes = 25u << 20, bool overlap = true);
  ~GradientReducer();

  // Copies every parameter and buffer from rank 0 to all ranks (call once at start).
  void broadcast_from_rank0();
  // Call after backward and before the optimizer step.
  void finish();
  std::size_t bucket_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deepzine::dist
