#include "cli_progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace calm::cli {
namespace {

static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT flag must be safe to set in a signal handler");
std::atomic<bool> g_cancel{false};

extern "C" void on_sigint(int) {
  g_cancel.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl+C stops at once; caches survive a torn line
}

}  // namespace

std::string duration_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", s / 60, s % 60);
  return text;
}

ProgressLine::ProgressLine(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO)) {}

void ProgressLine::update(std::size_t done, std::size_t total, std::size_t resumed,
                          const std::vector<std::size_t>& damaged_cache_lines) {
  const auto now = Clock::now();
  if (!seen_) {
    seen_ = true;
    first_done_ = done;
    if (resumed) std::cerr << label_ << ": resumed " << resumed << " finished examples from the cache\n";
    if (!damaged_cache_lines.empty())
      std::cerr << label_ << ": skipped " << damaged_cache_lines.size()
                << " damaged lines of the cache (checksum, JSON or values wrong), e.g. line "
                << damaged_cache_lines.front() << "; their examples run again\n";
  }
  const auto gap = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (printed_ && done != total && now - last_ < gap) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0.0 ? static_cast<double>(done - first_done_) / elapsed : 0.0;
  char text[160];
  std::snprintf(text, sizeof text, "%s: %zu/%zu examples, %.2f examples/s, ETA %s", label_.c_str(), done, total,
                rate, done == total ? "0:00"
                : rate > 0.0      ? duration_text(static_cast<double>(total - done) / rate).c_str()
                                  : "?");
  std::cerr << (tty_ ? "\r" : "") << text << (tty_ ? "\x1b[K" : "\n") << std::flush;
  printed_ = true;
}

void ProgressLine::finish() {
  if (tty_ && printed_) std::cerr << "\n";
  printed_ = false;
}

CtrlC::CtrlC() {
  g_cancel = false;
  previous_ = std::signal(SIGINT, on_sigint);
}

CtrlC::~CtrlC() { std::signal(SIGINT, previous_); }

const std::atomic<bool>& CtrlC::flag() { return g_cancel; }

}  // namespace calm::cli
