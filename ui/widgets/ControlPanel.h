// The knobs of CALM: confidence measure, lambda (calibrated or by hand), tau,
// the gate and where exits are checked, the calibration target (consistency,
// metric, delta, epsilon), max new tokens, the decoding mode (CALM with
// propagated or exact K/V, or lossless verify mode with its draft length) and
// the repetition remedies (penalty, no-repeat n-gram size).
// Each explains itself in a tooltip. The panel only shows
// DecodeControls and reports edits; the session decides what they mean.
#pragma once

#include <functional>
#include <vector>

#include <QWidget>

#include "session/DecodeControls.h"

class QComboBox;
class QDoubleSpinBox;
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
  // What the loaded model allows: the classifier measure and gate need a head;
  // exit checks start at most at its last layer.
  void setModelLimits(bool hasClassifier, int maxNewTokens, int layers = 1024);
  // The lambda in force and where it comes from.
  void setLambdaInForce(double lambda, const QString& explanation, bool calibrated);

 signals:
  void controlsEdited(const DecodeControls& controls);
  // The user let go of a slider or confirmed a value typed into its box: the
  // edit is complete, so there is nothing left to wait for.
  void editingFinished();

 public:
  // How one control shows its field of DecodeControls and reads it back
  // (`shown`: what was last shown, so an unmoved value stays exact).
  struct Binding {
    std::function<void(const DecodeControls&)> show;
    std::function<void(DecodeControls&, const DecodeControls& shown)> read;
  };

 private:
  void emitEdited();
  void updateEnabled(const DecodeControls& c);

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
  QComboBox* method_;  // Learn then Test p-values and conformal risk control
  QSpinBox* maxTokens_;
  QComboBox* gate_;
  QDoubleSpinBox* gateThreshold_;
  QSpinBox* firstExit_;
  QSpinBox* checkInterval_;
  QComboBox* mode_;
  QSpinBox* draft_;
  QDoubleSpinBox* repetitionPenalty_;
  QSpinBox* noRepeatNgram_;
  std::vector<Binding> bindings_;
  bool showing_ = false;  // setControls is filling the widgets: their signals are not edits
  DecodeControls shown_;
};

}  // namespace calm::ui
