#pragma once
// HDF5 (Debian's 1.10) can crash on some damaged files: fuzz_page_file found one whose symbol-table
// node makes H5Gget_info read address 0. Before this process lets HDF5 walk an untrusted page file,
// a forked child walks it first; a child that dies means the file is refused with a clear error
// instead of taking the run down. Each file (path, size, time) is probed once per process, on its
// first open, before the reader has started its prefetch thread.
#include <filesystem>
#include <functional>

namespace deepzine::data {

// Runs `walk` in a forked child on `file`; throws std::runtime_error naming the file when the child
// crashes. A walk that throws counts as finished: the caller's own walk reports the problem.
void probe_in_child(const std::filesystem::path& file, const std::function<void()>& walk);

}  // namespace deepzine::data
