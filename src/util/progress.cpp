#include "deepzine/util/progress.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace deepzine::util {
namespace {
std::atomic<int> g_force_terminal{-1};  // -1: decide by isatty
std::atomic<double> g_plain_interval{10.0};

bool on_terminal() {
  int forced = g_force_terminal.load();
  if (forced >= 0) return forced == 1;
  static const bool tty = isatty(fileno(stderr)) != 0;
  return tty;
}

std::string format_amount(double v, const std::string& unit) {
  if (unit == "B") return human_bytes(v);
  if (v >= 1e6) return fmt::format("{:.2f}M {}", v / 1e6, unit);
  if (v >= 1e4) return fmt::format("{:.1f}k {}", v / 1e3, unit);
  return fmt::format("{:.0f} {}", v, unit);
}
}  // namespace

std::string human_bytes(double bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto s = static_cast<long long>(seconds + 0.5);
  long long h = s / 3600, m = (s / 60) % 60, sec = s % 60;
  return h > 0 ? fmt::format("{}:{:02d}:{:02d}", h, m, sec) : fmt::format("{:02d}:{:02d}", m, sec);
}

void Progress::force_terminal(bool on) { g_force_terminal = on ? 1 : 0; }
void Progress::set_plain_interval(double seconds) { g_plain_interval = seconds; }

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  exceptions_at_start_ = std::uncaught_exceptions();
  std::lock_guard<std::mutex> lock(mutex_);
  if (on_terminal()) render_locked(false);
}

Progress::~Progress() { end(std::uncaught_exceptions() > exceptions_at_start_); }

void Progress::advance(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  double interval = on_terminal() ? 0.1 : g_plain_interval.load();
  if (since >= interval) render_locked(false);
}

void Progress::add_total(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  total_ = std::max<int64_t>(0, total_) + n;
}

void Progress::set_postfix(const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  postfix_ = text;
}

int64_t Progress::done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

void Progress::finish() { end(false); }
void Progress::stop() { end(true); }

void Progress::end(bool stopped) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  render_locked(true, stopped);
  finished_ = true;
}

void Progress::render_locked(bool final_line, bool stopped) {
  auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  std::string amount = total_ > 0 ? fmt::format("{}/{}", format_amount(done_, unit_),
                                                format_amount(total_, unit_))
                                  : format_amount(done_, unit_);
  std::string rate_text = format_amount(rate, unit_) + "/s";
  std::string eta;
  if (total_ > 0 && !final_line) {
    eta = rate > 0 ? " ETA " + human_duration((total_ - done_) / rate) : " ETA --:--";
  }
  std::string tail = fmt::format("{} {} [{}{}]{}", amount, rate_text, human_duration(elapsed), eta,
                                 postfix_.empty() ? "" : " " + postfix_);
  if (on_terminal()) {
    std::string bar;
    if (total_ > 0) {
      const int width = 28;
      double frac = std::min(1.0, static_cast<double>(done_) / total_);
      int full = static_cast<int>(frac * width);
      bar = fmt::format(" {:3.0f}% |{}{}|", frac * 100, std::string(full, '#'),
                        std::string(width - full, ' '));
    }
    std::fprintf(stderr, "\r\033[2K%s%s %s%s", label_.c_str(), bar.c_str(), tail.c_str(),
                 final_line ? (stopped ? " (stopped)\n" : "\n") : "");
    std::fflush(stderr);
  } else {
    std::string pct = total_ > 0 ? fmt::format(" {:.0f}%", 100.0 * done_ / total_) : "";
    spdlog::info("{}{}: {}{}", label_, pct, tail, final_line ? (stopped ? " (stopped)" : " (done)") : "");
  }
}

}  // namespace deepzine::util
