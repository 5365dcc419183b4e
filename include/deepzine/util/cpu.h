#pragma once
// How many CPU cores this process may really use: its CPU affinity (taskset, a cpuset) and, in a
// container, its cgroup v2 CPU quota. std::thread::hardware_concurrency() counts the machine's cores.
#include <filesystem>

namespace deepzine::util {

int usable_cores();

// The whole-core part of a cgroup v2 cpu.max file ("max 100000" -> 0: no quota; "150000 100000" -> 1,
// never below 1); 0 when the file is absent or unreadable.
int cgroup_quota_cores(const std::filesystem::path& cpu_max);

}  // namespace deepzine::util
