// Runs a calibration in the background: reads the JSONL set, prepares a
// calm::CalibrationRun, hands it to a CalibrationRunner on a worker thread,
// reports progress, can be cancelled, and publishes the finished
// CalibrationData. Owned by the StudioSession.
#pragma once

#include <atomic>
#include <memory>

#include <QObject>
#include <QString>
#include <QThreadPool>

#include "session/CalibrationData.h"
#include "session/CalibrationRunner.h"
#include "session/LatestJob.h"

namespace calm::ui {

class CalibrationController : public QObject {
  Q_OBJECT

 public:
  // `engineCalls` is the session's counter of Decoder::generate calls.
  CalibrationController(std::shared_ptr<std::atomic<int>> engineCalls, QObject* parent = nullptr);
  ~CalibrationController() override;  // cancels and waits

  void setRunner(std::shared_ptr<CalibrationRunner> runner) { runner_ = std::move(runner); }
  // Where finished examples are kept so that a cancelled calibration resumes;
  // empty (the default) keeps nothing.
  void setCacheDirectory(const QString& dir);
  // At most `maxExamples` examples of `dataset` (0: all) over lambda_grid(step).
  void start(std::shared_ptr<const calm::Model> model, const QString& modelDir, const QString& dataset,
             const DecodeControls& controls, int maxExamples = 0, double step = 0.05);
  void cancel();
  // Losses computed elsewhere (docs/losses-format.md), read at once: emits
  // finished with them, or failed naming the file and the line.
  void openLosses(const QString& path, std::shared_ptr<const calm::Model> model, const QString& modelDir,
                  const DecodeControls& controls);
  bool isRunning() const { return job_.isRunning(); }
  int runs() const { return runs_; }  // calibrations started so far

 signals:
  void started(const QString& dataset, int examples);
  void progress(int done, int total);
  void finished(std::shared_ptr<const calm::ui::CalibrationData> data);
  void failed(const QString& message);
  void cancelled();
  void runningChanged(bool running);

 private:
  QThreadPool pool_;
  LatestJob job_;
  std::shared_ptr<CalibrationRunner> runner_;
  std::shared_ptr<std::atomic<int>> engineCalls_;
  int runs_ = 0;
};

}  // namespace calm::ui
