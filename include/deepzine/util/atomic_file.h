#pragma once
// Atomic file output: write to a temporary sibling, fsync, rename over the destination.
// A reader (or a rerun after kill -9) sees either the old file or the complete new one, never a part.
#include <filesystem>
#include <string_view>
#include <vector>

namespace deepzine::util {

class AtomicFile {
 public:
  // Creates parent folders. The temporary name is "<name>.tmp-<pid>-<n>" in the same folder.
  explicit AtomicFile(std::filesystem::path final_path);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& final_path() const { return final_; }
  // fsyncs the temporary file, renames it to the final path and fsyncs the folder.
  void commit();

 private:
  std::filesystem::path final_, temp_;
  bool committed_ = false;
};

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// True for names AtomicFile creates; cleanup code uses it to remove leftovers of killed runs.
bool is_atomic_temp_name(const std::filesystem::path& path);

// Removes the temporaries of `final_path` ("<name>.tmp-<pid>…" beside it) that a killed process left:
// those whose <pid> runs no process. A live process's (another run writing the same file) are kept.
// Returns the paths removed, for the caller to log.
std::vector<std::filesystem::path> remove_stale_temporaries(const std::filesystem::path& final_path);

// The same for every AtomicFile temporary ("….tmp-<pid>-<n>") directly in `folder`: for output
// folders of many files (sampled pages, frames), swept once when a stage starts.
std::vector<std::filesystem::path> remove_stale_temporaries_in(const std::filesystem::path& folder);

}  // namespace deepzine::util
