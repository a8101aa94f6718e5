// Opening a thresholds file (calm::read_thresholds) against the loaded model:
// the controls it puts in force (its lambda, tau, measure, gate, K/V mode,
// exit checks and max new tokens, fitted to the model), what the user should
// be warned of, and where lambda now comes from. A plain function, so that it
// is tested without a session.
#pragma once

#include <QString>
#include <QStringList>

#include "session/DecodeControls.h"
#include "calibrate/method.h"
#include "model/model.h"

namespace calm::ui {

// Where a lambda taken from a thresholds file came from, for the λ panel.
struct ThresholdsSource {
  QString file;  // its name, for the user
  double lambda = 1.0, delta = 0.0, epsilon = 0.0;
  calm::CalibrationMethod method = calm::CalibrationMethod::HoeffdingBentkus;
  bool sameModel = true;
};

struct ThresholdsImport {
  QString error;         // why nothing applies; names the file (then nothing else is set)
  QStringList warnings;  // it applies, but e.g. it was made for another model
  DecodeControls controls;
  ThresholdsSource source;
  QString status;  // one line for the status bar: "λ = … from <file> (δ = …, ε = …)"
};

// `model` may be null (nothing is checked then); `modelHash` is its weights'
// hash (empty when unknown); `maxNewTokens` the most the model can hold.
ThresholdsImport importThresholds(const QString& path, const DecodeControls& current, const calm::Model* model,
                                  const QString& modelHash, int maxNewTokens);

// "δ = 0.1, ε = 0.05" (Learn then Test) or "δ = 0.1, conformal risk control".
QString guaranteeText(double delta, double epsilon, calm::CalibrationMethod method);

// The controls a newly loaded model can serve: the classifier measure and gate
// need a head the model may not have; exit checks cannot start above its depth.
DecodeControls fitControlsToModel(const DecodeControls& controls, const calm::Model& model, int maxNewTokens);

}  // namespace calm::ui
