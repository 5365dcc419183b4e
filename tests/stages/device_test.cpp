#include <gtest/gtest.h>

#include <torch/cuda.h>

#include "deepzine/stages/device.h"
#include "deepzine/util/error.h"

using deepzine::config::Config;
using deepzine::stages::resolve_device;

TEST(Device, CpuWhenAskedOrWithoutCuda) {
  Config c;
  c.device = "cpu";
  EXPECT_TRUE(resolve_device(c).is_cpu());
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA present: the no-CUDA fallbacks cannot be seen here";
  c.device = "auto";
  c.gpu_num = {1};  // the original config_preloaded.yaml asks for GPU 1
  EXPECT_TRUE(resolve_device(c).is_cpu());
  c.device = "cuda";
  EXPECT_THROW(resolve_device(c), deepzine::util::ConfigError);
}

TEST(Device, GpuNumPicksTheDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device on this machine";
  Config c;
  EXPECT_EQ(resolve_device(c).index(), 0);
  c.gpu_num = {static_cast<int>(torch::cuda::device_count())};
  EXPECT_THROW(resolve_device(c), deepzine::util::ConfigError);
}
