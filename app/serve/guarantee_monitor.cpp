#include "serve/guarantee_monitor.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

namespace calm::serve {

namespace {

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

// Four significant digits: a bound of 4e-5 against a delta of 1e-6 must not read "0.0000 > 0.0000".
std::string general(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", x);
  return buf;
}

}  // namespace

GuaranteeMonitor::GuaranteeMonitor(const Model& model, const std::optional<Thresholds>& thresholds, double fraction,
                                   std::uint64_t seed, std::function<void(const std::string&)> log)
    : model_(model), thresholds_(thresholds), log_(std::move(log)), rng_(seed), draw_(fraction) {
  state_.fraction = fraction;
  if (fraction <= 0.0) {
    state_.why_disabled = "--audit-fraction is 0";
  } else if (!thresholds_) {
    state_.why_disabled = "no thresholds file: no delta to watch";
  } else if (thresholds_->consistency != Consistency::Textual) {
    state_.why_disabled = "the thresholds file's consistency is risk, which needs references that traffic lacks";
  } else {
    state_.enabled = true;
    state_.delta = thresholds_->delta;
    // Learn-then-Test files carry epsilon; for a crc file (no epsilon) the
    // monitor watches at the default 0.05.
    state_.epsilon = thresholds_->method == CalibrationMethod::Crc ? 0.05 : thresholds_->epsilon;
  }
  if (!state_.enabled) return;
  log_("guarantee monitor: auditing " + fixed(100.0 * fraction, 1) + "% of requests against delta " +
       general(state_.delta) + " (" + metric_name(thresholds_->metric) + ", epsilon " + fixed(state_.epsilon, 3) +
       ")");
  thread_ = std::thread([this] { run(); });
}

GuaranteeMonitor::~GuaranteeMonitor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GuaranteeMonitor::offer(const CompletionRequest& q, const std::vector<int>& served_tokens) {
  if (!state_.enabled) return;
  // A stop sequence cuts the served text short of the N tokens the calibration scored.
  if (q.mode != ServeMode::Calm || !decodes_as_calibrated(q) || !q.stop.empty()) return;
  std::lock_guard lock(mutex_);
  ++state_.offered;
  if (!draw_(rng_)) return;
  if (backlog_.size() >= kBacklog) {
    ++state_.dropped;  // the audit thread is behind: skip rather than grow (the draw stays independent of the loss)
    return;
  }
  ++state_.queued;
  backlog_.push_back({q.prompt, q.options.full_model(), q.max_tokens, served_tokens});
  changed_.notify_all();
}

void GuaranteeMonitor::wait_idle() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return stopping_ || (backlog_.empty() && !auditing_); });
}

MonitorState GuaranteeMonitor::state() const {
  std::lock_guard lock(mutex_);
  MonitorState s = state_;
  s.backlog = backlog_.size();
  s.bounds = losses_.bounds(s.epsilon);
  return s;
}

void GuaranteeMonitor::run() {
  // The lowest priority: audits use what the decoders leave idle. On Linux
  // the nice value is per thread.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
  Decoder decoder(model_, 1);
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !backlog_.empty(); });
    if (stopping_) return;
    Audit audit = std::move(backlog_.front());
    backlog_.pop_front();
    auditing_ = true;
    lock.unlock();
    std::optional<double> loss;
    try {
      // The same prompt and token budget as served (N of the schedule kept),
      // through every layer.
      int generated = 0;
      const DecodeResult full = decoder.generate(audit.prompt, audit.full, [&](const TokenTrace&) {
        return ++generated < audit.max_tokens;
      });
      loss = textual_consistency_loss(model_.tokenizer, thresholds_->metric, thresholds_->metric_unit, audit.served,
                                      full.text_tokens());
    } catch (const std::exception& e) {
      log_(std::string("guarantee monitor: an audit failed: ") + e.what());
    }
    lock.lock();
    auditing_ = false;
    if (loss) {
      losses_.add(*loss);
      const LossBounds b = losses_.bounds(state_.epsilon);
      if (!state_.alarm && b.lower > state_.delta) {
        state_.alarm = true;
        log_("DRIFT ALARM: over " + std::to_string(b.n) + " audited requests the mean consistency loss is " +
             general(b.mean) + " and its lower confidence bound " + general(b.lower) + " exceeds delta " +
             general(state_.delta) + " (level " + general(state_.epsilon) +
             "): the traffic no longer behaves like the calibration set; recalibrate");
      }
    }
    changed_.notify_all();
  }
}

}  // namespace calm::serve
