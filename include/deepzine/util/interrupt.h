#pragma once
// Cooperative interruption: the first SIGINT/SIGTERM sets a flag that long loops poll so they can write
// a last checkpoint and stop cleanly (exit status 130); a second one ends the process at once.

namespace deepzine::util {

void install_interrupt_handlers();
bool interrupted();
void clear_interrupted();  // tests

// Thrown by loops that stop because of an interruption; main() maps it to exit status 130.
struct Interrupted {};

}  // namespace deepzine::util
