#pragma once
// HDF5 (Debian's 1.10) can crash, loop or read freed memory on damaged files: fuzz_page_file found a
// symbol-table node that makes H5Gget_info read address 0, and a damaged object header on which
// H5Aexists reads freed memory only by chance of the heap's history. So this process never lets HDF5
// read an untrusted page file: a forked child does, and answers what was asked of the file (its page
// map: page_map.h) as plain bytes. A child that dies or outlives its time means the file is refused
// with a clear error instead of taking the run down.
#include <chrono>
#include <filesystem>
#include <string>

namespace deepzine::probe {

// What a probe child runs on a file: HDF5's walk of it, answering `question` with bytes (or throwing
// std::runtime_error naming the file).
using ProbeWalk = std::string (*)(const std::filesystem::path& file, const std::string& question);

// Runs `walk` on `file` in a forked child and returns its answer; throws std::runtime_error naming the
// file when the child crashes or times out, and passes on the walk's own error. Where no child can be
// started (no process or descriptor to spare), runs the walk here.
std::string probe_in_child(const std::filesystem::path& file, const std::string& question, ProbeWalk walk);

// How many files one probe child walks. The product forks a child per file: a child that outlives its
// walk would keep the parent's memory shared copy-on-write, so every page a training run writes after
// it would be copied. The fuzzer probes hundreds of files a second, where a fork per file (page tables
// of all its memory copied) was 3/4 of the time: it keeps one child for many files. A kept child that
// dies is replaced, and a file is blamed only for the death of a child that walked nothing before it.
enum class ProbeChildren { kOnePerFile, kReused };
void set_probe_children(ProbeChildren mode);

// How long a child may take to walk a file before it is killed and the file refused (HDF5 loops
// forever on some damaged files). The page map of a level of 100,000 pages takes 30-50 ms
// (docs/BENCHMARKS.md, session 14); the fuzzer sets 0.1 s.
constexpr std::chrono::milliseconds kDefaultProbeTimeLimit{120000};
void set_probe_time_limit(std::chrono::milliseconds limit);

}  // namespace deepzine::probe
