// A slider and a spin box bound to one decimal value: drag for feel, type for
// precision. Emits valueChanged once per change, from either, and
// editingFinished when the user lets go: the slider released after a drag, or
// the spin box's text confirmed (Enter, or focus leaving it).
#pragma once

#include <QWidget>

class QDoubleSpinBox;
class QSlider;

namespace calm::ui {

class SliderSpin : public QWidget {
  Q_OBJECT

 public:
  SliderSpin(double minimum, double maximum, double step, int decimals, QWidget* parent = nullptr);

  double value() const;
  void setValue(double value);  // no signal
  void setToolTip(const QString& tip);
  QSlider* slider() const { return slider_; }
  QDoubleSpinBox* spinBox() const { return spin_; }

 signals:
  void valueChanged(double value);
  void editingFinished();

 private:
  int toTicks(double value) const;
  QSlider* slider_;
  QDoubleSpinBox* spin_;
  double minimum_, step_;
};

}  // namespace calm::ui
