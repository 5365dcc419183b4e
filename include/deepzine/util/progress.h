#pragma once
// Progress reporting for long work: a redrawn bar with rate and ETA when stderr is a terminal,
// a plain log line every few seconds otherwise (CI logs, nohup, pipes).
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace deepzine::util {

class Progress {
 public:
  // total <= 0 means unknown (no percentage, no ETA). unit "B" prints sizes as KiB/MiB/GiB.
  Progress(std::string label, int64_t total, std::string unit = "it");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t n = 1);           // thread-safe
  void add_total(int64_t n);              // grow the total as work is discovered
  void set_postfix(const std::string& text);  // shown after the rate, e.g. "D 0.31 G -1.2"
  void finish();                          // final line; idempotent
  void stop();                            // final line marked "(stopped)": the work ended part way
  // The destructor draws the final line if neither did: as stop() when an exception unwinds through
  // it (the work failed part way; a log must not call that done), else as finish().

  int64_t done() const;

  // Force a mode (tests); by default decided by isatty(stderr).
  static void force_terminal(bool on);
  // Seconds between plain lines when not on a terminal (default 10).
  static void set_plain_interval(double seconds);

 private:
  void render_locked(bool final_line, bool stopped = false);
  void end(bool stopped);
  std::string label_, unit_, postfix_;
  int64_t total_ = 0, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
  int exceptions_at_start_ = 0;  // std::uncaught_exceptions() when constructed
  mutable std::mutex mutex_;
};

// "1.5 MiB", "230 B"
std::string human_bytes(double bytes);
// "1:02:03" or "02:03"
std::string human_duration(double seconds);

}  // namespace deepzine::util
