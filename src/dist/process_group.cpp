// c10d process group creation: TCPStore rendezvous + Gloo (CPU) or NCCL (CUDA LibTorch).
#include "deepzine/dist/dist.h"

#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef DEEPZINE_DIST_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace deepzine::dist {
namespace {

// LibTorch 2.x splits ProcessGroup (dispatcher front) from Backend (Gloo/NCCL implementation); the
// backends keep the same collective methods, so we talk to the backend object directly on both.
#if TORCH_VERSION_MAJOR >= 2
using BackendPtr = c10::intrusive_ptr<c10d::Backend>;
#else
using BackendPtr = c10::intrusive_ptr<c10d::ProcessGroup>;
#endif

long parse_int(const char* name, const char* value, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi) {
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + value +
                                "' is not an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "]");
  }
  return v;
}

}  // namespace

RankEnv rank_env_from_environment() {
  RankEnv env;
  const char* ws = std::getenv("WORLD_SIZE");
  if (ws == nullptr) return env;
  env.world_size = static_cast<int>(parse_int("WORLD_SIZE", ws, 1, 1 << 20));
  const char* rank = std::getenv("RANK");
  if (env.world_size > 1 && rank == nullptr) {
    throw std::invalid_argument("WORLD_SIZE=" + std::string(ws) +
                                " is set but RANK is not: set RANK (0..WORLD_SIZE-1) for each process");
  }
  if (rank) env.rank = static_cast<int>(parse_int("RANK", rank, 0, env.world_size - 1));
  const char* local = std::getenv("LOCAL_RANK");
  env.local_rank = local ? static_cast<int>(parse_int("LOCAL_RANK", local, 0, 1 << 20)) : env.rank;
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) env.master_addr = addr;
  if (const char* port = std::getenv("MASTER_PORT"))
    env.master_port = static_cast<std::uint16_t>(parse_int("MASTER_PORT", port, 1, 65535));
  return env;
}

bool nccl_available() {
#ifdef DEEPZINE_DIST_NCCL
  return true;
#else
  return false;
#endif
}

struct ProcessGroup::Pending {
  c10::intrusive_ptr<c10d::Work> work;
};

struct ProcessGroup::Impl {
  RankEnv env;
  std::chrono::milliseconds timeout;
  c10::intrusive_ptr<c10d::Store> store;
  BackendPtr pg;

  void wait(const c10::intrusive_ptr<c10d::Work>& work) {
    // Work::wait(timeout) throws on timeout (a rank that hangs or died): say which collective.
    try {
      work->wait(timeout);
    } catch (const std::exception& e) {
      throw std::runtime_error("distributed collective on rank " + std::to_string(env.rank) + " of " +
                               std::to_string(env.world_size) + " failed or timed out after " +
                               std::to_string(timeout.count()) +
                               " ms (another rank died or hangs; see its log): " + e.what());
    }
  }
};

ProcessGroup::ProcessGroup(const RankEnv& env, Backend backend, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->env = env;
  impl_->timeout = timeout;
  c10d::TCPStoreOptions opts;
  opts.port = env.master_port;
  opts.isServer = env.rank == 0;
  opts.numWorkers = static_cast<std::size_t>(env.world_size);
  opts.waitWorkers = true;
  opts.timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (env.rank == 0 && (what.find("in use") != std::string::npos ||
                          what.find("EADDRINUSE") != std::string::npos ||
                          what.find("bind") != std::string::npos)) {
      throw std::runtime_error("rank 0 cannot listen on MASTER_PORT " + where +
                               ": the port is in use; choose another MASTER_PORT (" + what + ")");
    }
    throw std::runtime_error("rank " + std::to_string(env.rank) + " of " +
                             std::to_string(env.world_size) + " could not meet the others at " + where +
                             " within " + std::to_string(timeout.count()) +
                             " ms (check MASTER_ADDR/MASTER_PORT and that every rank started): " + what);
  }
  if (backend == Backend::kNccl) {
#ifdef DEEPZINE_DIST_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = timeout;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env.rank, env.world_size, o);
#else
    throw std::runtime_error("the NCCL backend needs a LibTorch built with CUDA; this one is CPU-only");
#endif
  } else {
    auto o = c10d::ProcessGroupGloo::Options::create(timeout);
    // Gloo binds its own listening socket on the address that resolves to this host's name; on a
    // single machine the loopback is what every rank can reach, elsewhere the hostname.
    const bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    o->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                               : c10d::ProcessGroupGloo::createDefaultDevice());
    o->threads = 2;
    try {
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, o);
    } catch (const std::exception& e) {
      // Gloo's full-mesh connect waits for every rank through the store; a missing rank ends here.
      const std::string what = e.what();
      throw std::runtime_error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                               ": not all ranks joined through " + where + " within " +
                               std::to_string(timeout.count()) + " ms (a rank did not start or died): " +
                               what.substr(0, what.find('\n')));
    }
  }
}

ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return impl_->env.rank; }
int ProcessGroup::world_size() const { return impl_->env.world_size; }

std::shared_ptr<ProcessGroup::Pending> ProcessGroup::all_reduce_sum_async(std::vector<at::Tensor>& tensors) {
  auto p = std::make_shared<Pending>();
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = impl_->timeout;
  p->work = impl_->pg->allreduce(tensors, o);
  return p;
}

void ProcessGroup::wait(const std::shared_ptr<Pending>& pending) { impl_->wait(pending->work); }

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors) { wait(all_reduce_sum_async(tensors)); }

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = impl_->timeout;
  impl_->wait(impl_->pg->broadcast(tensors, o));
}

void ProcessGroup::barrier() {
  c10d::BarrierOptions o;
  o.timeout = impl_->timeout;
  impl_->wait(impl_->pg->barrier(o));
}

}  // namespace deepzine::dist
