#pragma once
// For tests that a contained crash leaves no core file: while one of these lives, this process (and
// so each child it forks) may dump cores as large as the hard limit allows, into `folder`, its
// working directory. Where the kernel sends cores elsewhere (a core_pattern with a path or a pipe)
// or the hard limit is 0, `possible()` is false and the test has nothing to observe.
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace deepzine::testing_support {

class CoreDumpsIntoFolder {
 public:
  explicit CoreDumpsIntoFolder(const std::filesystem::path& folder) : folder_(folder) {
    std::ifstream pattern_file("/proc/sys/kernel/core_pattern");
    std::getline(pattern_file, pattern_);
    if (getrlimit(RLIMIT_CORE, &saved_) != 0) return;
    if (pattern_.empty() || pattern_[0] == '|' || pattern_.find('/') != std::string::npos) return;
    if (saved_.rlim_max == 0) return;
    const rlimit allowed{saved_.rlim_max, saved_.rlim_max};
    if (setrlimit(RLIMIT_CORE, &allowed) != 0) return;
    previous_ = std::filesystem::current_path();
    std::filesystem::current_path(folder_);
    possible_ = true;
  }
  ~CoreDumpsIntoFolder() {
    if (!possible_) return;
    std::error_code ec;
    std::filesystem::current_path(previous_, ec);
    setrlimit(RLIMIT_CORE, &saved_);
  }
  CoreDumpsIntoFolder(const CoreDumpsIntoFolder&) = delete;
  CoreDumpsIntoFolder& operator=(const CoreDumpsIntoFolder&) = delete;

  bool possible() const { return possible_; }
  const std::string& core_pattern() const { return pattern_; }
  // The names of what is in the folder now.
  std::vector<std::string> left() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder_)) names.push_back(entry.path().filename());
    return names;
  }

 private:
  std::filesystem::path folder_, previous_;
  std::string pattern_;
  rlimit saved_{};
  bool possible_ = false;
};

}  // namespace deepzine::testing_support
