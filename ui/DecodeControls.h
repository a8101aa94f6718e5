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
  double delta = 0.10;     // tolerated expected loss over new inputs
  double epsilon = 0.05;   // risk that the guarantee fails
  double tau = 4.0;        // decay of the threshold over the output
  bool lambdaFromCalibration = true;  // else manualLambda
  double manualLambda = 0.80;
  int maxNewTokens = 48;
  // Where the exit checks run: from firstExitLayer (1-based) on, every checkInterval-th layer.
  int firstExitLayer = 1;
  int checkInterval = 1;
  // A cheap test a softmax measure must pass before it pays for the vocabulary
  // projection (ignored by the state and classifier measures).
  calm::Gate gate = calm::Gate::None;
  double gateThreshold = 0.9;
  // The decoding mode: CALM with this K/V handling of skipped layers, or verify
  // mode (lossless self-speculative decoding: the output is the full model's;
  // drafts with propagated K/V and records no per-layer trace).
  calm::KvMode kvMode = calm::KvMode::Propagate;
  bool verify = false;
  int draftTokens = 4;  // verify mode: tokens drafted per verification pass (1..16)
  // Which loss the calibration bounds (CALM-SPEC section 6): textual, 1 - m(CALM
  // output, full output), needs no reference; risk, the quality lost against the
  // reference beyond the full model's own loss.
  calm::Consistency consistency = calm::Consistency::Textual;
  calm::Metric metric = calm::Metric::RougeL;
  calm::PValueMethod pvalueMethod = calm::PValueMethod::HoeffdingBentkus;

  bool operator==(const DecodeControls&) const = default;
};

}  // namespace calm::ui
