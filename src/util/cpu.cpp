#include "deepzine/util/cpu.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <thread>

namespace deepzine::util {

int cgroup_quota_cores(const std::filesystem::path& cpu_max) {
  std::ifstream in(cpu_max);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  try {
    const long long q = std::stoll(quota);
    return q > 0 ? static_cast<int>(std::max(1LL, q / period)) : 0;
  } catch (...) {
    return 0;
  }
}

int usable_cores() {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = std::max(1, CPU_COUNT(&set));
  if (const int quota = cgroup_quota_cores("/sys/fs/cgroup/cpu.max"); quota > 0) cores = std::min(cores, quota);
  return cores;
}

}  // namespace deepzine::util
