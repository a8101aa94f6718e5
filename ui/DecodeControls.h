// Everything the user sets that shapes a generation or the choice of lambda:
// plain data, compared as a whole so the session can tell what a change means.
#pragma once

#include "calibrate/calibrator.h"
#include "calibrate/metrics.h"
#include "calibrate/pvalues.h"
#include "decode/decoder.h"
#include "decode/measure.h"

namespace calm::ui {

struct DecodeControls {
  calm::Measure measure = calm::Measure::Softmax;
  double delta = 0.10;     // tolerated expected loss
  double epsilon = 0.05;   // risk that the guarantee fails
  double tau = 4.0;        // decay of the threshold over the output
  bool lambdaFromCalibration = true;  // else manualLambda
  double manualLambda = 0.80;
  int maxNewTokens = 48;
  calm::KvMode kvMode = calm::KvMode::Propagate;
  // Which loss the calibration bounds (CALM-SPEC section 6): textual, 1 - m(CALM
  // output, full output), needs no reference; risk, the quality lost against the
  // reference beyond the full model's own loss.
  calm::Consistency consistency = calm::Consistency::Textual;
  calm::Metric metric = calm::Metric::RougeL;
  calm::PValueMethod pvalueMethod = calm::PValueMethod::HoeffdingBentkus;

  bool operator==(const DecodeControls&) const = default;
};

}  // namespace calm::ui
