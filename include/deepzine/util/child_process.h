#pragma once
// What a forked child that may crash on untrusted input (an HDF5 probe, a poppler render worker)
// sets up first.

namespace deepzine::util {

// The child's crash is contained and reported by its parent: it must leave no core file (as large
// as the whole process) in the user's working directory, whatever their `ulimit -c`.
void disable_core_dumps();

}  // namespace deepzine::util
