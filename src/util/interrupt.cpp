#include "deepzine/util/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace deepzine::util {
namespace {
std::atomic<int> g_signals{0};

void on_signal(int sig) {
  if (g_signals.fetch_add(1) >= 1) {
    // Second signal: the user wants out now.
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  static const char msg[] = "\ninterrupt received: finishing the current step and saving (again to stop now)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
}
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_signals.load() > 0; }
void clear_interrupted() { g_signals = 0; }

}  // namespace deepzine::util
