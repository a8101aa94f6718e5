// The files a calibration leaves behind, in the core's formats: the
// thresholds file to take into deployment (calm::Thresholds) and the report
// (calm::CalibrationReport as JSON and CSV) for the guarantee now chosen.
#pragma once

#include <QString>

#include "session/CalibrationData.h"
#include "session/DecodeControls.h"
#include "calibrate/ltt.h"
#include "calibrate/report.h"
#include "calibrate/thresholds.h"

namespace calm::ui {

class CalibrationExport {
 public:
  static calm::Guarantee guarantee(const DecodeControls& controls);
  // What the calibration decided under `controls` (delta, epsilon, consistency, metric, method).
  static calm::Thresholds thresholds(const CalibrationData& data, const DecodeControls& controls);
  // Each returns an empty string or a readable error.
  static QString writeThresholds(const CalibrationData& data, const DecodeControls& controls, const QString& path);
  // JSON at `jsonPath` and CSV beside it (calm::csv_path_for).
  static QString writeReport(const CalibrationData& data, const DecodeControls& controls, const QString& jsonPath);
};

}  // namespace calm::ui
