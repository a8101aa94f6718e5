// Watching the guarantee on live traffic. A thresholds file certifies that the
// expected consistency loss on inputs like the calibration set's is at most
// delta (with probability 1 - epsilon over the calibration draw). Traffic may
// drift away from that distribution. The monitor decodes a random fraction of
// the served requests again with the full model, on one low-priority thread
// of its own (never on a request's path), records the textual consistency
// loss of the served output against the full model's with the file's metric
// (calibrate/calibrator.h, as calibration scores it), and keeps anytime
// bounds on its expectation (calibrate/online_bounds.h). The drift alarm
// fires when the lower bound passes delta: the audited traffic shows, at
// level epsilon however long it has been watched, that the expected loss on
// it is above delta.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "calibrate/online_bounds.h"
#include "calibrate/thresholds.h"
#include "decode/decoder.h"
#include "serve/completion_request.h"

namespace calm::serve {

struct MonitorState {
  bool enabled = false;
  std::string why_disabled;  // when not enabled
  double fraction = 0.0;
  double delta = 0.0, epsilon = 0.05;
  std::uint64_t offered = 0;   // served requests the monitor could audit
  std::uint64_t queued = 0;    // drawn for an audit
  std::uint64_t dropped = 0;   // drawn, but the backlog was full
  std::uint64_t backlog = 0;   // waiting for the audit thread
  LossBounds bounds;           // over the audited requests
  bool alarm = false;          // latched once the lower bound passed delta
};

class GuaranteeMonitor {
 public:
  static constexpr std::size_t kBacklog = 256;

  // Audits `fraction` of eligible requests (0 disables it). Only a textual
  // thresholds file can be watched this way (risk consistency needs
  // references); `log` hears when the monitor starts and the alarm.
  GuaranteeMonitor(const Model& model, const std::optional<Thresholds>& thresholds, double fraction,
                   std::uint64_t seed, std::function<void(const std::string&)> log);
  ~GuaranteeMonitor();  // stops the audit thread, dropping the backlog

  // After a request was served: maybe queue it for an audit. Eligible: calm
  // mode at the file's lambda and repetition remedies, greedy, no stop strings, decoded to its end
  // (the settings the guarantee is about). Cheap; never blocks on the audit.
  void offer(const CompletionRequest& q, const std::vector<int>& served_tokens);
  // Waits until the backlog is empty (tests, and a draining server).
  void wait_idle();

  MonitorState state() const;

 private:
  struct Audit {
    std::string prompt;
    DecodeOptions full;
    int max_tokens = 0;
    std::vector<int> served;
  };
  void run();

  const Model& model_;
  std::optional<Thresholds> thresholds_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Audit> backlog_;
  bool auditing_ = false;  // an audit is being decoded
  bool stopping_ = false;
  std::mt19937_64 rng_;
  std::bernoulli_distribution draw_;
  MonitorState state_;
  RunningLoss losses_;
  std::thread thread_;
};

}  // namespace calm::serve
