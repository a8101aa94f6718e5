#include "TokenChip.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>

#include "ExitColorScale.h"

namespace calm::ui {

namespace {
constexpr int kPadX = 5;
constexpr int kPadY = 3;
constexpr qreal kRadius = 4.0;
}  // namespace

TokenChip::TokenChip(int index, QWidget* parent) : QWidget(parent), index_(index) {
  setObjectName(QStringLiteral("tokenChip"));
  setCursor(Qt::PointingHandCursor);
  setAttribute(Qt::WA_Hover);
  setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
}

void TokenChip::setToken(const QString& label, bool wordStart, int exitLayer, const QColor& color,
                         const QString& tooltip) {
  const bool resize = label != label_;
  label_ = label;
  exitLayer_ = exitLayer;
  color_ = color;
  setProperty("wordGap", wordStart);
  setToolTip(tooltip);
  setAccessibleName(label);
  stale_ = false;
  if (resize) updateGeometry();
  update();
}

void TokenChip::setSelected(bool selected) {
  if (selected == selected_) return;
  selected_ = selected;
  update();
}

void TokenChip::setDifferent(bool different) {
  if (different == different_) return;
  different_ = different;
  update();
}

void TokenChip::setStale(bool stale) {
  if (stale == stale_) return;
  stale_ = stale;
  update();
}

QSize TokenChip::sizeHint() const {
  const QFontMetrics fm(font());
  return {fm.horizontalAdvance(label_) + 2 * kPadX, fm.height() + 2 * kPadY + 2};
}

void TokenChip::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  if (stale_) p.setOpacity(0.35);
  const QRectF box = QRectF(rect()).adjusted(1, 1, -1, -1);
  QPainterPath path;
  path.addRoundedRect(box, kRadius, kRadius);
  p.fillPath(path, hovered_ ? color_.lighter(112) : color_);
  if (selected_) {
    p.setPen(QPen(QColor(0x1f, 0x3b, 0x8f), 2.0));
    p.drawPath(path);
  } else {
    p.setPen(QPen(color_.darker(125), 1.0));
    p.drawPath(path);
  }
  p.setPen(ExitColorScale::textOn(color_));
  p.drawText(box, Qt::AlignCenter, label_);
  if (different_) {  // a dotted underline: the full model differs here
    QPen pen(QColor(0x20, 0x20, 0x20), 1.5, Qt::DotLine);
    p.setPen(pen);
    const qreal y = box.bottom() - 2.0;
    p.drawLine(QPointF(box.left() + 3, y), QPointF(box.right() - 3, y));
  }
}

void TokenChip::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton) emit clicked(index_);
  QWidget::mousePressEvent(event);
}

void TokenChip::enterEvent(QEnterEvent* event) {
  hovered_ = true;
  update();
  QWidget::enterEvent(event);
}

void TokenChip::leaveEvent(QEvent* event) {
  hovered_ = false;
  update();
  QWidget::leaveEvent(event);
}

}  // namespace calm::ui
