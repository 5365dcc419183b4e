// Bucketed gradient averaging with optional overlap of all-reduce and backward (as DDP's reducer).
#include "deepzine/dist/dist.h"

#include <torch/torch.h>

#include <stdexcept>

namespace deepzine::dist {

namespace {
struct Bucket {
  std::vector<torch::Tensor> params;
  std::vector<int64_t> offsets;  // element offset of each parameter in `flat`
  torch::Tensor flat;
  int ready = 0;
  std::shared_ptr<ProcessGroup::Pending> pending;
};
}  // namespace

struct GradientReducer::Impl {
  torch::nn::Module* module = nullptr;
  ProcessGroup* group = nullptr;
  bool overlap = true;
  std::vector<Bucket> buckets;
  std::vector<std::pair<int, int>> where;  // parameter index -> (bucket, slot)
  std::vector<int> hook_calls;             // per parameter, this step
  // Collectives must be issued in the same order on every rank (Gloo/NCCL match them by sequence),
  // so buckets are launched strictly in index order even if a later one fills first.
  size_t next_launch = 0;

  void launch_ready() {
    while (next_launch < buckets.size() &&
           buckets[next_launch].ready == static_cast<int>(buckets[next_launch].params.size())) {
      launch(buckets[next_launch++]);
    }
  }

  void launch(Bucket& b) {
    std::vector<torch::Tensor> t{b.flat};
    b.pending = group->all_reduce_sum_async(t);
  }

  // Copies the (final) gradients of a bucket into its flat buffer.
  void pack(Bucket& b) {
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto dst = b.flat.narrow(0, b.offsets[i], b.params[i].numel());
      const auto& g = b.params[i].grad();
      if (g.defined()) dst.copy_(g.reshape({-1}));
      else dst.zero_();
    }
  }
};

GradientReducer::GradientReducer(torch::nn::Module& module, ProcessGroup& group, std::size_t bucket_bytes,
                                 bool overlap)
    : impl_(std::make_unique<Impl>()) {
  impl_->module = &module;
  impl_->group = &group;
  impl_->overlap = overlap;
  auto params = module.parameters(/*recurse=*/true);
  // Backward produces gradients roughly in reverse registration order: bucket from the last
  // parameter so the first bucket fills first and its all-reduce starts while backward continues.
  std::vector<int> order;
  for (int i = static_cast<int>(params.size()) - 1; i >= 0; --i)
    if (params[i].requires_grad()) order.push_back(i);
  impl_->where.assign(params.size(), {-1, -1});
  impl_->hook_calls.assign(params.size(), 0);
  std::size_t bytes = 0;
  for (int idx : order) {
    auto& p = params[idx];
    if (impl_->buckets.empty() || bytes >= bucket_bytes ||
        impl_->buckets.back().params.front().options().dtype() != p.options().dtype() ||
        impl_->buckets.back().params.front().device() != p.device()) {
      impl_->buckets.emplace_back();
      bytes = 0;
    }
    auto& b = impl_->buckets.back();
    const int64_t off = b.offsets.empty() ? 0 : b.offsets.back() + b.params.back().numel();
    impl_->where[idx] = {static_cast<int>(impl_->buckets.size()) - 1, static_cast<int>(b.params.size())};
    b.params.push_back(p);
    b.offsets.push_back(off);
    bytes += p.numel() * p.element_size();
  }
  for (auto& b : impl_->buckets) {
    const int64_t n = b.offsets.back() + b.params.back().numel();
    b.flat = torch::zeros({n}, b.params.front().options().requires_grad(false));
  }
  if (!overlap || group.world_size() == 1) return;
  for (size_t idx = 0; idx < params.size(); ++idx) {
    if (impl_->where[idx].first < 0) continue;
    Impl* impl = impl_.get();
    // The hook sees this backward's gradient before it is accumulated into .grad; the final value is
    // .grad (if any, from gradient accumulation) + incoming. When a bucket's last gradient arrives
    // its all-reduce starts on the flat buffer while the rest of backward runs.
    params[idx].register_hook([impl, idx](torch::Tensor grad) {
      auto [bi, slot] = impl->where[idx];
      auto& b = impl->buckets[bi];
      if (++impl->hook_calls[idx] > 1) {
        throw std::logic_error("GradientReducer(overlap=true): a parameter received two gradient "
                               "passes in one step; call backward once per step or use overlap=false");
      }
      const auto& p = b.params[slot];
      auto dst = b.flat.narrow(0, b.offsets[slot], p.numel());
      torch::NoGradGuard no_grad;
      if (p.grad().defined()) dst.copy_((p.grad() + grad).reshape({-1}));
      else dst.copy_(grad.reshape({-1}));
      ++b.ready;
      impl->launch_ready();
      return grad;
    });
  }
}

GradientReducer::~GradientReducer() = default;

std::size_t GradientReducer::bucket_count() const { return impl_->buckets.size(); }

void GradientReducer::broadcast_from_rank0() {
  if (impl_->group->world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> all;
  for (auto& p : impl_->module->parameters()) all.push_back(p);
  for (auto& b : impl_->module->buffers()) all.push_back(b);
  // One broadcast per tensor keeps it simple; it happens once per run.
  for (auto& t : all) {
    std::vector<torch::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    impl_->group->broadcast(one, 0);
    if (!t.is_contiguous()) t.copy_(one[0]);
  }
}

void GradientReducer::finish() {
  auto& g = *impl_->group;
  if (g.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / g.world_size();
  // Buckets not yet launched (a parameter unused this step, or overlap off) are packed from .grad,
  // which is final now that backward has returned, and reduced in order.
  for (size_t i = impl_->next_launch; i < impl_->buckets.size(); ++i) {
    impl_->pack(impl_->buckets[i]);
    impl_->launch(impl_->buckets[i]);
  }
  impl_->next_launch = 0;
  for (auto& b : impl_->buckets) {
    g.wait(b.pending);
    b.pending.reset();
    b.ready = 0;
    b.flat.mul_(scale);
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto& p = b.params[i];
      auto src = b.flat.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(src);
      else p.mutable_grad() = src.clone();
    }
  }
  std::fill(impl_->hook_calls.begin(), impl_->hook_calls.end(), 0);
}

}  // namespace deepzine::dist
