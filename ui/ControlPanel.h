// The knobs of CALM: confidence measure, lambda (calibrated or by hand), tau,
// the calibration target (consistency, metric, delta, epsilon), max new tokens
// and the K/V mode. Each explains itself in a tooltip. The panel only shows
// DecodeControls and reports edits; the session decides what they mean.
#pragma once

#include <QWidget>

#include "DecodeControls.h"

class QComboBox;
class QLabel;
class QRadioButton;
class QSpinBox;

namespace calm::ui {

class SliderSpin;

class ControlPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ControlPanel(QWidget* parent = nullptr);

  void setControls(const DecodeControls& controls);  // shows them; emits nothing
  DecodeControls controls() const;
  // What the loaded model allows: the classifier measure needs a head.
  void setModelLimits(bool hasClassifier, int maxNewTokens);
  // The lambda in force and where it comes from.
  void setLambdaInForce(double lambda, const QString& explanation, bool calibrated);

 signals:
  void controlsEdited(const DecodeControls& controls);

 private:
  void emitEdited();

  QComboBox* measure_;
  SliderSpin* lambda_;
  QRadioButton* fromCalibration_;
  QRadioButton* byHand_;
  QLabel* lambdaInForce_;
  SliderSpin* tau_;
  QComboBox* consistency_;
  QComboBox* metric_;
  SliderSpin* delta_;
  SliderSpin* epsilon_;
  QComboBox* pvalue_;
  QSpinBox* maxTokens_;
  QComboBox* kvMode_;
  DecodeControls shown_;
};

}  // namespace calm::ui
