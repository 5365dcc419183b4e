#pragma once
// The HDF5 probe's child under AddressSanitizer (the fuzz build). The child walks a hostile file with
// HDF5 (not instrumented) and with this project's walk code (instrumented). A memory error the
// sanitizer catches inside HDF5 is contained like HDF5's crashes: the file is refused. One in this
// project's own code must not be: it would look like HDF5's and the fuzzer could never find it.
#include <cstdint>
#include <filesystem>
#include <string>

namespace deepzine::probe::sanitizer {

// In the child, first: sanitizer reports end the child with a status saying whose code erred.
// Without a sanitizer: nothing.
void prepare_child();

// In the child, before each walk of a file of `file_size` bytes: under the sanitizer the heap may grow
// by 32 MiB plus the file's size, and the child exits when it grows past that. The address-space
// limit that bounds the child otherwise (1 GiB plus the file's size) does nothing under a sanitizer,
// whose heap is address space reserved from the start: on some damaged files HDF5 filled gigabytes,
// 10 s an input (0.3 s with this bound; the fuzzer's files are at most 64 KB, whose walk needs a few
// MB).
void bound_child_heap(uint64_t file_size);

// In the parent, for a child that died: with a sanitizer, a report against this project's code
// stops this process (a fuzzing finding, the report printed above by the child). Returns how to name
// a contained death ("a memory error inside HDF5" for one against HDF5's code), empty if none applies.
std::string judge_child_death(int status, const std::filesystem::path& file);

// Whether an AddressSanitizer report (its text) is against HDF5's own code: the frame that made the
// bad access, or the one under the sanitizer's check of a libc call (memcpy from HDF5), is in libhdf5
// and not a function of this project. Symbolized or not.
bool report_is_against_hdf5(const char* report);

}  // namespace deepzine::probe::sanitizer
