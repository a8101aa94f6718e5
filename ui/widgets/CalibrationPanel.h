// The calibration tab: choose a set (the bundled one or any JSONL file), run
// it with a progress bar and a Cancel button, read the plots, export the
// thresholds file and the report. It shows and forwards; the session runs it.
#pragma once

#include <optional>

#include <QWidget>

#include "session/CalibrationData.h"

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace calm::ui {

class CalibrationPlots;

class CalibrationPanel : public QWidget {
  Q_OBJECT

 public:
  explicit CalibrationPanel(QWidget* parent = nullptr);

  // The bundled sets of the current model: display name and path.
  void setBundledSets(const QList<QPair<QString, QString>>& sets);
  void addSet(const QString& path);  // a file the user chose; selects it
  QString currentSet() const;
  int maxExamples() const;
  void setMaxExamples(int count);  // 0: all
  double gridStep() const;

  void setRunning(bool running);
  void showStarted(int examples);
  void showProgress(int done, int total);
  void showMessage(const QString& html);  // failure, cancellation
  // The result for the current (delta, epsilon), or nothing yet.
  void showResult(const CalibrationData* data, const std::optional<calm::CalibrationResult>& result,
                  const DecodeControls& controls, const QString& mismatch, int layers);
  CalibrationPlots* plots() const { return plots_; }

 signals:
  void runRequested(const QString& dataset, int maxExamples, double step);
  void cancelRequested();
  void chooseFileRequested();
  void exportThresholdsRequested();
  void exportReportRequested();
  void openThresholdsRequested();
  void openLossesRequested();

 private:
  QComboBox* sets_;
  QPushButton* chooseFile_;
  QSpinBox* examples_;
  QComboBox* step_;
  QPushButton* run_;
  QPushButton* cancel_;
  QProgressBar* progress_;
  QLabel* status_;
  QLabel* summary_;
  CalibrationPlots* plots_;
  QPushButton* exportThresholds_;
  QPushButton* exportReport_;
  QPushButton* openThresholds_;
  QPushButton* openLosses_;
};

}  // namespace calm::ui
