// One prompt decoded with each confidence measure, for the "Measures" view:
// the same text coloured several ways, with the lambda each used (its bundled
// certified lambda for the current guarantee when the model has one, else the
// hand-set lambda), the layers it ran and what it cost; last the local oracle
// (each token exits at the first layer whose top token is already the last
// layer's, given the run's own past), the bound every measure is aiming at. A plain function for a worker
// thread; StudioSession runs it.
#pragma once

#include <atomic>
#include <vector>

#include <QString>
#include <QStringList>

#include "session/DecodeControls.h"
#include "calibrate/bundled.h"
#include "model/model.h"

namespace calm::ui {

struct MeasureRun {
  calm::Measure measure = calm::Measure::Softmax;
  bool oracle = false;       // the local oracle's row (measure and lambda unused)
  double lambda = 1.0;
  QString lambdaSource;      // "certified, δ = 0.1 (bundled)" or "hand-set"
  calm::DecodeResult result; // traced
  QStringList pieces;
  double seconds = 0.0;      // an untraced run of the same decode (fastestSeconds)
  double fullSeconds = 0.0;  // the full model's, timed the same way in the same call
};

// The measures the model supports (the classifier needs its head), in the
// order of the controls' list, then the oracle. Empty when cancelled. Throws on a decode error.
std::vector<MeasureRun> compareMeasures(const calm::Model& model, const std::string& prompt,
                                        const DecodeControls& controls,
                                        const std::vector<calm::BundledThresholds>& bundled,
                                        const std::atomic<bool>& cancel);

}  // namespace calm::ui
