#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>

#include <torch/cuda.h>

#include "deepzine/stages/device.h"
#include "deepzine/util/cpu.h"
#include "deepzine/util/error.h"

using deepzine::config::Config;
using deepzine::stages::configure_cpu_threads;
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

// LibTorch alone may take one thread on a 2-vCPU VM: the stages set the usable cores (shared among the
// ranks on this machine) unless cpu_threads or OMP_NUM_THREADS says otherwise.
TEST(CpuThreads, UsableCoresSharedAmongLocalRanksOrAsConfigured) {
  if (std::getenv("OMP_NUM_THREADS")) GTEST_SKIP() << "OMP_NUM_THREADS is set: it decides the threads";
  const int before = at::get_num_threads();
  Config c;
  unsetenv("LOCAL_WORLD_SIZE");
  EXPECT_EQ(configure_cpu_threads(c), deepzine::util::usable_cores());
  EXPECT_EQ(at::get_num_threads(), deepzine::util::usable_cores());
  setenv("LOCAL_WORLD_SIZE", "2", 1);
  EXPECT_EQ(configure_cpu_threads(c), std::max(1, deepzine::util::usable_cores() / 2));
  unsetenv("LOCAL_WORLD_SIZE");
  c.cpu_threads = 3;
  EXPECT_EQ(configure_cpu_threads(c), 3);
  EXPECT_EQ(at::get_num_threads(), 3);
  at::set_num_threads(before);
}
