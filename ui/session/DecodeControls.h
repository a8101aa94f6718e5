// Everything the user sets that shapes a generation or the choice of lambda:
// plain data, compared as a whole so the session can tell what a change means.
#pragma once

#include "calibrate/calibrator.h"
#include "calibrate/metrics.h"
#include "calibrate/method.h"
#include "calibrate/report.h"
#include "decode/decoder.h"
#include "decode/exit_rule.h"
#include "decode/measure.h"

namespace calm::ui {

// The exit rule as the controls hold it (the policy is always calm):
// - lambda is the hand-set value, used unless lambdaFromCalibration picks the
//   calibrated one;
// - first_exit_layer and check_interval place the exit checks: from that
//   layer (1-based) on, every check_interval-th layer;
// - the gate is a cheap test a softmax measure must pass before it pays for
//   the vocabulary projection (ignored by the state and classifier measures);
// - kv_mode is the K/V handling of skipped layers in CALM mode; with `verify`
//   on, the decoding is verify mode instead (lossless self-speculative
//   decoding: the output is the full model's; drafts with propagated K/V and
//   records no per-layer trace), drafting verify_draft tokens (1..16) per
//   verification pass;
// - repetition_penalty (0.1..10, 1 = off) and no_repeat_ngram (0..10, 0 =
//   off) reshape every exit's distribution (decode/repetition.h): a
//   calibration, the bundled ones included, covers only the values it ran with.
struct DecodeControls : calm::ExitRule {
  DecodeControls() {
    lambda = 0.80;
    max_new_tokens = 64;  // as calm's, and the bundled calibrations'
    verify_draft = 4;
  }

  double delta = 0.10;     // tolerated expected loss over new inputs
  double epsilon = 0.05;   // risk that the guarantee fails (Learn then Test only)
  bool lambdaFromCalibration = true;  // else the rule's (hand-set) lambda
  bool verify = false;
  // Which loss the calibration bounds (Schuster et al. 2022, textual and risk consistency):
  // textual, 1 - m(CALM output, full output), needs no reference; risk, the
  // quality lost against the reference beyond the full model's own loss.
  calm::Consistency consistency = calm::Consistency::Textual;
  calm::Metric metric = calm::Metric::RougeL;
  // How lambda is chosen: Learn then Test with a p-value (delta and epsilon)
  // or conformal risk control (delta only: a guarantee in expectation).
  calm::CalibrationMethod method = calm::CalibrationMethod::HoeffdingBentkus;

  // What the calibration is asked to guarantee (metrics on words).
  calm::Guarantee guarantee() const {
    calm::Guarantee g;
    g.consistency = consistency;
    g.metric = metric;
    g.delta = delta;
    g.epsilon = epsilon;
    g.method = method;
    return g;
  }

  bool operator==(const DecodeControls&) const = default;
};

}  // namespace calm::ui
