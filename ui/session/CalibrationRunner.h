// What a calibration needs from the engine: fill a calm::CalibrationRun with
// the model's outputs for every example and lambda. CoreCalibrationRunner is
// calm::Calibrator (threads, resumable cache); tests can pass their own.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include <QString>

#include "calibrate/calibrator.h"
#include "model/model.h"

namespace calm::ui {

class CalibrationRunner {
 public:
  // Examples finished (resumed from a cache included) out of all.
  using Progress = std::function<void(std::size_t done, std::size_t total)>;

  virtual ~CalibrationRunner() = default;
  // Fills the missing outputs of `run`; false when `cancel` stopped it. Adds
  // the number of Decoder::generate calls it made to `engineCalls`. Throws
  // calm::Error on failure.
  virtual bool run(const calm::Model& model, calm::CalibrationRun& run, const Progress& progress,
                   const std::atomic<bool>& cancel, std::atomic<int>& engineCalls) = 0;
};

class CoreCalibrationRunner : public CalibrationRunner {
 public:
  // `cacheDir` empty: no cache. Otherwise finished examples are kept there
  // (one file per model, data and settings) and a cancelled run resumes.
  explicit CoreCalibrationRunner(QString cacheDir = QString(), int threads = 0)
      : cacheDir_(std::move(cacheDir)), threads_(threads) {}
  bool run(const calm::Model& model, calm::CalibrationRun& run, const Progress& progress,
           const std::atomic<bool>& cancel, std::atomic<int>& engineCalls) override;
  // The cache file for `run`, or "" without a cache directory.
  QString cacheFile(const calm::CalibrationRun& run) const;

 private:
  QString cacheDir_;
  int threads_;
};

}  // namespace calm::ui
