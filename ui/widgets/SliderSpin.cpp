#include "widgets/SliderSpin.h"

#include <cmath>

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QSignalBlocker>
#include <QSlider>

namespace calm::ui {

SliderSpin::SliderSpin(double minimum, double maximum, double step, int decimals, QWidget* parent)
    : QWidget(parent), minimum_(minimum), step_(step) {
  slider_ = new QSlider(Qt::Horizontal, this);
  slider_->setRange(0, toTicks(maximum));
  slider_->setPageStep(std::max(1, slider_->maximum() / 10));
  spin_ = new QDoubleSpinBox(this);
  spin_->setRange(minimum, maximum);
  spin_->setSingleStep(step);
  spin_->setDecimals(decimals);
  spin_->setKeyboardTracking(false);
  spin_->setMinimumWidth(spin_->fontMetrics().horizontalAdvance(QStringLiteral("0.0000")) + 36);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(6);
  layout->addWidget(slider_, 1);
  layout->addWidget(spin_);
  connect(slider_, &QSlider::valueChanged, this, [this](int ticks) {
    const double v = minimum_ + ticks * step_;
    {
      const QSignalBlocker block(spin_);
      spin_->setValue(v);
    }
    emit valueChanged(spin_->value());
  });
  connect(spin_, &QDoubleSpinBox::valueChanged, this, [this](double v) {
    {
      const QSignalBlocker block(slider_);
      slider_->setValue(toTicks(v));
    }
    emit valueChanged(v);
  });
  connect(slider_, &QSlider::sliderReleased, this, &SliderSpin::editingFinished);
  connect(spin_, &QDoubleSpinBox::editingFinished, this, &SliderSpin::editingFinished);
}

int SliderSpin::toTicks(double value) const { return static_cast<int>(std::lround((value - minimum_) / step_)); }

double SliderSpin::value() const { return spin_->value(); }

void SliderSpin::setValue(double value) {
  const QSignalBlocker a(slider_), b(spin_);
  spin_->setValue(value);
  slider_->setValue(toTicks(spin_->value()));
}

void SliderSpin::setToolTip(const QString& tip) {
  QWidget::setToolTip(tip);
  slider_->setToolTip(tip);
  spin_->setToolTip(tip);
}

}  // namespace calm::ui
