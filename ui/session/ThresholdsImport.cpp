#include "session/ThresholdsImport.h"

#include <algorithm>
#include <exception>

#include <QFileInfo>

#include "calibrate/thresholds.h"
#include "util/error.h"

namespace calm::ui {

QString guaranteeText(double delta, double epsilon, calm::CalibrationMethod method) {
  if (!calm::is_learn_then_test(method))
    return QStringLiteral("δ = %1, conformal risk control").arg(delta, 0, 'g', 3);
  return QStringLiteral("δ = %1, ε = %2").arg(delta, 0, 'g', 3).arg(epsilon, 0, 'g', 3);
}

DecodeControls fitControlsToModel(const DecodeControls& controls, const calm::Model& model, int maxNewTokens) {
  DecodeControls fitted = controls;
  if (!model.config.has_classifier()) {
    if (fitted.measure == calm::Measure::Classifier) fitted.measure = calm::Measure::Softmax;
    if (fitted.gate == calm::Gate::Classifier) fitted.gate = calm::Gate::None;
  }
  const int layers = std::max(1, model.config.decoder_layers);
  fitted.first_exit_layer = std::clamp(fitted.first_exit_layer, 1, layers);
  fitted.check_interval = std::clamp(fitted.check_interval, 1, layers);
  fitted.max_new_tokens = std::clamp(fitted.max_new_tokens, 1, maxNewTokens);
  return fitted;
}

ThresholdsImport importThresholds(const QString& path, const DecodeControls& current, const calm::Model* model,
                                  const QString& modelHash, int maxNewTokens) {
  ThresholdsImport result;
  const QString fileName = QFileInfo(path).fileName();
  const QString name = fileName.isEmpty() ? path : fileName;
  calm::Thresholds t;
  try {
    if (path.isEmpty()) throw calm::Error("no file given");
    t = calm::read_thresholds(path.toStdString());
  } catch (const std::exception& e) {
    result.error = QStringLiteral("Could not read the thresholds file “%1”: %2").arg(name, QString::fromUtf8(e.what()));
    return result;
  } catch (...) {
    result.error = QStringLiteral("Could not read the thresholds file “%1”: unknown error").arg(name);
    return result;
  }

  // What the loaded model can serve.
  bool sameModel = true;
  if (model) {
    if (!model->config.has_classifier() &&
        (t.measure == calm::Measure::Classifier ||
         (t.gate == calm::Gate::Classifier && calm::measure_needs_logits(t.measure)))) {
      result.error = QStringLiteral("The thresholds file “%1” uses the early-exit classifier, and the loaded model "
                                    "%2 has no classifier head: nothing was changed.")
                         .arg(name, QString::fromStdString(model->name));
      return result;
    }
    const QString fileModel = QString::fromStdString(t.model_name);
    const QString loaded = QString::fromStdString(model->name);
    sameModel = !modelHash.isEmpty() ? modelHash == QString::fromStdString(t.model_hash) : fileModel == loaded;
    if (!sameModel)
      result.warnings << QStringLiteral("“%1” was made for the model “%2” (weights %3), but the loaded model is “%4”%5. "
                                        "Its guarantee holds for that model only; the settings were applied anyway.")
                             .arg(name, fileModel, QString::fromStdString(t.model_hash), loaded,
                                  modelHash.isEmpty() ? QString() : QStringLiteral(" (weights %1)").arg(modelHash));
  } else {
    result.warnings << QStringLiteral("No model is loaded, so “%1” could not be checked against one.").arg(name);
  }

  DecodeControls c = current;
  const int draft = c.verify_draft;  // the file's rule has none; the controls remember theirs
  c.rule() = t.rule();
  c.policy = calm::ExitPolicy::Calm;
  c.verify_draft = draft;
  c.tau = std::clamp(t.tau, 0.0, 10.0);
  c.lambdaFromCalibration = false;
  if (t.kv_mode != calm::KvMode::Propagate) c.verify = false;  // verify mode drafts with propagated K/V
  const int layers = model ? std::max(1, model->config.decoder_layers) : 1024;
  c.first_exit_layer = std::clamp(t.first_exit_layer, 1, layers);
  c.check_interval = std::clamp(t.check_interval, 1, layers);
  c.max_new_tokens = std::clamp(t.max_new_tokens, 1, maxNewTokens);
  if (t.tau > 10.0) result.warnings << QStringLiteral("τ = %1 is beyond the controls' range; 10 is used.").arg(t.tau);
  if (c.first_exit_layer != t.first_exit_layer || c.check_interval != t.check_interval)
    result.warnings << QStringLiteral("The exit checks (from layer %1, every %2) do not fit this %3-layer model.")
                           .arg(t.first_exit_layer)
                           .arg(t.check_interval)
                           .arg(layers);
  if (c.max_new_tokens != t.max_new_tokens)
    result.warnings << QStringLiteral("Max new tokens %1 is more than this model can hold; %2 is used.")
                           .arg(t.max_new_tokens)
                           .arg(c.max_new_tokens);
  result.controls = c;

  result.source.file = name;
  result.source.lambda = t.lambda;
  result.source.delta = t.delta;
  result.source.epsilon = t.epsilon;
  result.source.method = t.method;
  result.source.sameModel = sameModel;
  result.status = QStringLiteral("λ = %1 from %2 (%3)")
                      .arg(t.lambda, 0, 'f', 3)
                      .arg(name, guaranteeText(t.delta, t.epsilon, t.method));
  return result;
}

}  // namespace calm::ui
