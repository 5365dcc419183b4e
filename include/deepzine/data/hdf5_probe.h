#pragma once
// HDF5 (Debian's 1.10) can crash on some damaged files: fuzz_page_file found one whose symbol-table
// node makes H5Gget_info read address 0. Before this process lets HDF5 walk an untrusted page file,
// a forked child walks it first; a child that dies means the file is refused with a clear error
// instead of taking the run down. Each file (path, inode, size, times) is probed once per process, on
// its first open, before the reader has started its prefetch thread.
#include <chrono>
#include <filesystem>

namespace deepzine::data {

// What a probe child runs on a file: HDF5's walk of it, throwing std::runtime_error naming the file.
using ProbeWalk = void (*)(const std::filesystem::path& file);

// Runs `walk` on `file` in a forked child; throws std::runtime_error naming the file when the child
// crashes, and passes on the walk's own error (this process does not walk a file that failed there).
void probe_in_child(const std::filesystem::path& file, ProbeWalk walk);

// How many files one probe child walks. The product forks a child per file: a child that outlives its
// walk would keep the parent's memory shared copy-on-write, so every page a training run writes after
// it would be copied. The fuzzer probes hundreds of files a second, where a fork per file (page tables
// of all its memory copied) was 3/4 of the time: it keeps one child for many files. A kept child that
// dies is replaced, and a file is blamed only for the death of a child that walked nothing before it.
enum class ProbeChildren { kOnePerFile, kReused };
void set_probe_children(ProbeChildren mode);

// How long a child may take to walk a file before it is killed and the file refused (HDF5 loops
// forever on some damaged files). Reading the index of a page file of a million pages takes well
// under a second; the fuzzer sets seconds.
constexpr std::chrono::milliseconds kDefaultProbeTimeLimit{120000};
void set_probe_time_limit(std::chrono::milliseconds limit);

// Forgets which files were probed: the fuzzer writes each input to the same path, which may keep its
// size and time (tmpfs times have the clock tick's resolution), and each input must be probed.
void forget_probed_files();

}  // namespace deepzine::data
