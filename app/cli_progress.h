// Long CLI runs (calibrate, validate, generate --data): one progress line on
// stderr, and Ctrl+C turned into a flag the run checks, so that a run stops
// between examples and keeps what it finished.
#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <string>
#include <vector>

namespace calm::cli {

// "1:05" or "1:02:03".
std::string duration_text(double seconds);

// One progress line on stderr, rewritten in place on a terminal; elsewhere a
// new line every few seconds.
class ProgressLine {
 public:
  explicit ProgressLine(std::string label);
  ~ProgressLine() { finish(); }
  // `resumed` examples came from a cache (said once, with the lines of it that were damaged).
  void update(std::size_t done, std::size_t total, std::size_t resumed = 0,
              const std::vector<std::size_t>& damaged_cache_lines = {});
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  bool tty_;
  bool seen_ = false, printed_ = false;
  std::size_t first_done_ = 0;
  Clock::time_point start_ = Clock::now(), last_;
};

// While alive, the first Ctrl+C sets cancelled() instead of killing the
// process (a second one kills it); the previous handler comes back after.
class CtrlC {
 public:
  CtrlC();
  ~CtrlC();
  CtrlC(const CtrlC&) = delete;
  CtrlC& operator=(const CtrlC&) = delete;
  static const std::atomic<bool>& flag();
  static bool cancelled() { return flag().load(); }

 private:
  void (*previous_)(int);
};

}  // namespace calm::cli
