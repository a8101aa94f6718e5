#include "session/CalibrationController.h"

#include <chrono>
#include <exception>

#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>

#include "calibrate/jsonl.h"
#include "calibrate/sampling.h"
#include "util/error.h"

namespace calm::ui {

CalibrationController::CalibrationController(std::shared_ptr<std::atomic<int>> engineCalls, QObject* parent)
    : QObject(parent), job_(this), runner_(std::make_shared<CoreCalibrationRunner>()),
      engineCalls_(std::move(engineCalls)) {
  pool_.setMaxThreadCount(1);
}

CalibrationController::~CalibrationController() {
  job_.cancel();
  pool_.waitForDone();
}

void CalibrationController::setCacheDirectory(const QString& dir) {
  runner_ = std::make_shared<CoreCalibrationRunner>(dir);
}

void CalibrationController::start(std::shared_ptr<const calm::Model> model, const QString& modelDir,
                                  const QString& dataset, const DecodeControls& controls, int maxExamples,
                                  double step) {
  const bool wasRunning = job_.isRunning();
  const LatestJob::Ticket job = job_.start();  // a calibration in progress stops
  ++runs_;
  if (!wasRunning) emit runningChanged(true);
  auto runner = runner_;
  auto calls = engineCalls_;
  (void)QtConcurrent::run(&pool_, [=, this] {
    std::shared_ptr<CalibrationData> data;
    QString error;
    bool wasCancelled = false;
    try {
      if (!model) throw calm::Error("no model is loaded");
      if (dataset.isEmpty()) throw calm::Error("no calibration set chosen");
      const std::string path = dataset.toStdString();
      calm::JsonlResult set = calm::read_jsonl(path);  // stops at the first bad line
      if (set.examples.empty()) throw calm::Error(path + ": no examples in the file");
      // A random subset (seed 0), never the first lines: Learn then Test needs exchangeable examples.
      const std::size_t limit = maxExamples > 0 && static_cast<int>(set.examples.size()) > maxExamples
                                    ? static_cast<std::size_t>(maxExamples)
                                    : 0;
      set.examples = calm::random_examples(std::move(set.examples), limit, 0);
      if (controls.consistency == calm::Consistency::Risk) calm::require_references(set.examples, path);
      calm::RunSettings settings = calm::RunSettings::from(controls);
      settings.grid = calm::lambda_grid(step);
      settings.limit = limit;
      const int count = static_cast<int>(set.examples.size());
      calm::CalibrationRun run = calm::Calibrator::prepare(*model, path, std::move(set.examples), settings);
      job_.report(job, [this, dataset, count] { emit started(dataset, count); });
      const auto began = std::chrono::steady_clock::now();
      const auto report = [this, &job](std::size_t done, std::size_t total) {
        job_.report(job, [this, done, total] { emit progress(static_cast<int>(done), static_cast<int>(total)); });
      };
      const bool complete = runner->run(*model, run, report, *job.cancel, *calls);
      if (!complete || job.cancelled() || !run.complete()) {
        wasCancelled = true;
      } else {
        data = std::make_shared<CalibrationData>();
        data->run = std::move(run);
        data->model = model;
        data->modelDir = modelDir;
        data->dataset = dataset;
        data->askedFor = controls;
        data->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
      }
    } catch (const std::exception& e) {
      error = QString::fromUtf8(e.what());
    } catch (...) {
      error = QStringLiteral("unknown error during calibration");
    }
    std::shared_ptr<const CalibrationData> result = data;
    job_.finish(job, [this, result, error, wasCancelled] {
      if (!error.isEmpty())
        emit failed(error);
      else if (wasCancelled)
        emit cancelled();
      else
        emit finished(result);
    }, [this] {
      if (!job_.isRunning()) emit runningChanged(false);
    });
  });
}

void CalibrationController::cancel() { job_.cancel(); }

void CalibrationController::openLosses(const QString& path, std::shared_ptr<const calm::Model> model,
                                       const QString& modelDir, const DecodeControls& controls) {
  std::shared_ptr<const CalibrationData> data;
  try {
    data = CalibrationData::fromLossesFile(path, std::move(model), modelDir, controls);
  } catch (const std::exception& e) {
    emit failed(QString::fromUtf8(e.what()));
    return;
  }
  emit finished(data);
}

}  // namespace calm::ui
