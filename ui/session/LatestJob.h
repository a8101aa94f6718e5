// "The latest job wins; starting one cancels the one before": the pattern of
// every background job the app runs (loading a model, decoding, calibrating).
//
// start() cancels the previous job's flag and hands the worker a Ticket: the
// flag to poll, and a serial that says whether the job is still the latest.
// The worker sends progress with report() and its result with finish(); both
// run the given function on the owner's thread, and only for the latest job,
// so a stale job's late results are dropped in one place. The owner must wait
// for its workers (e.g. QThreadPool::waitForDone) before it is destroyed.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include <QMetaObject>
#include <QObject>

namespace calm::ui {

class LatestJob {
 public:
  struct Ticket {
    quint64 serial = 0;
    std::shared_ptr<std::atomic<bool>> cancel;
    bool cancelled() const { return cancel->load(); }
  };

  // `owner` lives on the thread results are delivered to.
  explicit LatestJob(QObject* owner) : owner_(owner) {}

  // Cancels the job before (if still running) and counts the new one as running.
  Ticket start() {
    cancel_->store(true);
    cancel_ = std::make_shared<std::atomic<bool>>(false);
    ++running_;
    return Ticket{++serial_, cancel_};
  }

  // The latest job stops at its next check, and a result already on its way
  // back is reported as cancelled (wasCancelled) rather than used.
  void cancel() {
    cancel_->store(true);
    cancelledSerial_ = serial_;
  }

  bool isRunning() const { return running_ > 0; }
  bool isLatest(quint64 serial) const { return serial == serial_; }
  bool wasCancelled(quint64 serial) const { return serial == cancelledSerial_; }

  // From the worker: `f()` on the owner's thread, if the job is still the latest then.
  template <class F>
  void report(const Ticket& ticket, F f) {
    const quint64 serial = ticket.serial;
    QMetaObject::invokeMethod(owner_, [this, serial, f = std::move(f)]() mutable {
      if (isLatest(serial)) f();
    }, Qt::QueuedConnection);
  }

  // From the worker, once, last: the job stops counting as running, then
  // `f()` runs on the owner's thread if the job is still the latest, then
  // `after()` runs whatever the job was (e.g. to update a busy indicator).
  template <class F, class After>
  void finish(const Ticket& ticket, F f, After after) {
    const quint64 serial = ticket.serial;
    QMetaObject::invokeMethod(owner_, [this, serial, f = std::move(f), after = std::move(after)]() mutable {
      --running_;
      if (isLatest(serial)) f();
      after();
    }, Qt::QueuedConnection);
  }
  template <class F>
  void finish(const Ticket& ticket, F f) {
    finish(ticket, std::move(f), [] {});
  }

 private:
  QObject* owner_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
  quint64 serial_ = 0;
  quint64 cancelledSerial_ = 0;
  int running_ = 0;
};

}  // namespace calm::ui
