#pragma once
// Memory layouts the kernels index directly: NCHW-contiguous or (4-D) channels-last.
#include <torch/types.h>

namespace deepzine::ops::glue {

inline bool channels_last(const torch::Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(at::MemoryFormat::ChannelsLast);
}
// t itself when its layout is one the kernels index, else a contiguous copy.
inline torch::Tensor dense(const torch::Tensor& t) { return channels_last(t) || t.is_contiguous() ? t : t.contiguous(); }
// t in the layout of ref (ref from dense()).
inline torch::Tensor like(const torch::Tensor& t, const torch::Tensor& ref) {
  return channels_last(ref) ? t.contiguous(at::MemoryFormat::ChannelsLast) : t.contiguous();
}
// The dims a per-channel bias gradient sums over: all but 1.
inline std::vector<int64_t> non_channel_dims(const torch::Tensor& t) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < t.dim(); ++i) d.push_back(i);
  return d;
}

}  // namespace deepzine::ops::glue
