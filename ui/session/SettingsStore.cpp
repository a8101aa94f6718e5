#include "session/SettingsStore.h"

#include <algorithm>

namespace calm::ui {

SettingsStore::SettingsStore(const QString& file)
    : settings_(file.isEmpty() ? std::make_unique<QSettings>(QStringLiteral("calm-studio"), QStringLiteral("calm-studio"))
                               : std::make_unique<QSettings>(file, QSettings::IniFormat)) {}

DecodeControls SettingsStore::controls() const {
  DecodeControls d;  // defaults for anything missing or out of range
  const QSettings& s = *settings_;
  const auto real = [&s](const char* key, double fallback, double lo, double hi) {
    bool ok = false;
    const double v = s.value(QLatin1String(key), fallback).toDouble(&ok);
    return ok ? std::clamp(v, lo, hi) : fallback;
  };
  const auto integer = [&s](const char* key, int fallback, int lo, int hi) {
    bool ok = false;
    const int v = s.value(QLatin1String(key), fallback).toInt(&ok);
    return ok ? std::clamp(v, lo, hi) : fallback;
  };
  d.measure = static_cast<calm::Measure>(integer("controls/measure", int(d.measure), 0, 3));
  d.delta = real("controls/delta", d.delta, 0.01, 0.5);
  d.epsilon = real("controls/epsilon", d.epsilon, 0.01, 0.5);
  d.tau = real("controls/tau", d.tau, 0.0, 10.0);
  d.lambdaFromCalibration = s.value(QStringLiteral("controls/lambdaFromCalibration"), d.lambdaFromCalibration).toBool();
  d.lambda = real("controls/manualLambda", d.lambda, 0.0, 1.0);
  d.max_new_tokens = integer("controls/maxNewTokens", d.max_new_tokens, 1, 512);
  d.kv_mode = static_cast<calm::KvMode>(integer("controls/kvMode", int(d.kv_mode), 0, 2));
  d.verify = s.value(QStringLiteral("controls/verify"), d.verify).toBool();
  d.verify_draft = integer("controls/draftTokens", d.verify_draft, 1, 16);
  d.gate = static_cast<calm::Gate>(integer("controls/gate", int(d.gate), 0, 2));
  d.gate_threshold = real("controls/gateThreshold", d.gate_threshold, -1.0, 1.0);
  d.first_exit_layer = integer("controls/firstExitLayer", d.first_exit_layer, 1, 1024);
  d.check_interval = integer("controls/checkInterval", d.check_interval, 1, 1024);
  d.repetition_penalty = real("controls/repetitionPenalty", d.repetition_penalty, 0.1, 10.0);  // the panel's range
  d.no_repeat_ngram = integer("controls/noRepeatNgram", d.no_repeat_ngram, 0, 10);
  d.consistency = static_cast<calm::Consistency>(integer("controls/consistency", int(d.consistency), 0, 1));
  d.metric = static_cast<calm::Metric>(integer("controls/metric", int(d.metric), 0, 4));
  // The key predates crc; numbers 0-3 are the p-values, as before.
  d.method = static_cast<calm::CalibrationMethod>(
      integer("controls/pvalueMethod", int(d.method), 0, int(calm::CalibrationMethod::Crc)));
  return d;
}

void SettingsStore::setControls(const DecodeControls& d) {
  QSettings& s = *settings_;
  s.setValue(QStringLiteral("controls/measure"), int(d.measure));
  s.setValue(QStringLiteral("controls/delta"), d.delta);
  s.setValue(QStringLiteral("controls/epsilon"), d.epsilon);
  s.setValue(QStringLiteral("controls/tau"), d.tau);
  s.setValue(QStringLiteral("controls/lambdaFromCalibration"), d.lambdaFromCalibration);
  s.setValue(QStringLiteral("controls/manualLambda"), d.lambda);
  s.setValue(QStringLiteral("controls/maxNewTokens"), d.max_new_tokens);
  s.setValue(QStringLiteral("controls/kvMode"), int(d.kv_mode));
  s.setValue(QStringLiteral("controls/verify"), d.verify);
  s.setValue(QStringLiteral("controls/draftTokens"), d.verify_draft);
  s.setValue(QStringLiteral("controls/gate"), int(d.gate));
  s.setValue(QStringLiteral("controls/gateThreshold"), d.gate_threshold);
  s.setValue(QStringLiteral("controls/firstExitLayer"), d.first_exit_layer);
  s.setValue(QStringLiteral("controls/checkInterval"), d.check_interval);
  s.setValue(QStringLiteral("controls/repetitionPenalty"), d.repetition_penalty);
  s.setValue(QStringLiteral("controls/noRepeatNgram"), d.no_repeat_ngram);
  s.setValue(QStringLiteral("controls/consistency"), int(d.consistency));
  s.setValue(QStringLiteral("controls/metric"), int(d.metric));
  s.setValue(QStringLiteral("controls/pvalueMethod"), int(d.method));
}

QString SettingsStore::modelDir() const { return settings_->value(QStringLiteral("model/dir")).toString(); }
void SettingsStore::setModelDir(const QString& dir) { settings_->setValue(QStringLiteral("model/dir"), dir); }
QString SettingsStore::prompt() const { return settings_->value(QStringLiteral("prompt/text")).toString(); }
void SettingsStore::setPrompt(const QString& prompt) { settings_->setValue(QStringLiteral("prompt/text"), prompt); }
QString SettingsStore::calibrationSet() const { return settings_->value(QStringLiteral("calibration/set")).toString(); }
void SettingsStore::setCalibrationSet(const QString& path) {
  settings_->setValue(QStringLiteral("calibration/set"), path);
}
QByteArray SettingsStore::windowGeometry() const { return settings_->value(QStringLiteral("window/geometry")).toByteArray(); }
QByteArray SettingsStore::windowState() const { return settings_->value(QStringLiteral("window/state")).toByteArray(); }
void SettingsStore::setWindow(const QByteArray& geometry, const QByteArray& state) {
  settings_->setValue(QStringLiteral("window/geometry"), geometry);
  settings_->setValue(QStringLiteral("window/state"), state);
}

}  // namespace calm::ui
