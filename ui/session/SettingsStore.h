// What CALM Studio remembers between runs (QSettings): the model, the prompt,
// the controls and the window layout. Tests and screenshots pass a file of
// their own so they never touch the user's settings.
#pragma once

#include <memory>

#include <QByteArray>
#include <QSettings>
#include <QString>

#include "session/DecodeControls.h"

namespace calm::ui {

class SettingsStore {
 public:
  // `file` empty: the user's settings; otherwise an INI file at that path.
  explicit SettingsStore(const QString& file = QString());

  DecodeControls controls() const;
  void setControls(const DecodeControls& controls);
  QString modelDir() const;
  void setModelDir(const QString& dir);
  QString prompt() const;
  void setPrompt(const QString& prompt);
  QString calibrationSet() const;
  void setCalibrationSet(const QString& path);
  QByteArray windowGeometry() const;
  QByteArray windowState() const;
  void setWindow(const QByteArray& geometry, const QByteArray& state);
  QSettings& raw() { return *settings_; }
  void sync() { settings_->sync(); }

 private:
  std::unique_ptr<QSettings> settings_;
};

}  // namespace calm::ui
