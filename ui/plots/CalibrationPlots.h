// The three calibration plots against lambda (from 1, the safest, down to the
// most aggressive): mean loss with the delta line, p-value with the epsilon
// line (conformal risk control: its bound with the delta line), and average
// decoder layers; the chosen lambda marked in each.
#pragma once

#include <optional>

#include <QWidget>

#include "calibrate/ltt.h"

class QCustomPlot;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCPTextElement;

namespace calm::ui {

class CalibrationPlots : public QWidget {
  Q_OBJECT

 public:
  explicit CalibrationPlots(QWidget* parent = nullptr);
  // `layers`: the model's depth (the top of the layers plot).
  void showResult(const calm::CalibrationResult& result, int layers);
  void clear(const QString& message);
  bool savePng(const QString& path);  // all three side by side
  QCustomPlot* lossPlot() const { return plots_[0].plot; }
  QCustomPlot* pValuePlot() const { return plots_[1].plot; }
  QCustomPlot* layersPlot() const { return plots_[2].plot; }

 private:
  struct Panel {
    QCustomPlot* plot = nullptr;
    QCPTextElement* title = nullptr;
    QCPGraph* tested = nullptr;    // points the fixed-sequence walk reached
    QCPGraph* untested = nullptr;  // points after it stopped, grey
    QCPGraph* chosen = nullptr;    // the chosen lambda's point
    QCPItemStraightLine* limit = nullptr;  // delta or epsilon
    QCPItemText* limitLabel = nullptr;
    QCPItemStraightLine* choice = nullptr;  // vertical line at the chosen lambda
    QCPItemText* message = nullptr;
  };
  Panel makePanel(const QString& title, const QString& yLabel);
  Panel plots_[3];
  QString pValueTip_;  // the p-value panel's tooltip under Learn then Test
};

}  // namespace calm::ui
