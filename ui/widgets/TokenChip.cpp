#include "widgets/TokenChip.h"

#include <algorithm>

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>

#include "plots/ExitColorScale.h"

namespace calm::ui {

namespace {
constexpr int kPadX = 5;
constexpr int kPadY = 3;
constexpr qreal kRadius = 4.0;
const QColor kSelected(0x11, 0x18, 0x27);    // near black: reads on every exit colour
const QColor kCorrected(0x1f, 0x6f, 0xeb);   // blue: the full model's token replaced a draft
const QChar kCheck(0x2713);                  // ✓

QFont markFont(const QFont& base) {
  QFont f = base;
  f.setPointSizeF(base.pointSizeF() * 0.7);
  f.setBold(true);
  return f;
}
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

void TokenChip::setVerifyMark(VerifyMark mark) {
  if (mark == mark_) return;
  const bool resize = (mark == VerifyMark::Accepted) != (mark_ == VerifyMark::Accepted);
  mark_ = mark;
  if (resize) updateGeometry();
  update();
}

QSize TokenChip::sizeHint() const {
  const QFontMetrics fm(font());
  const int mark = mark_ == VerifyMark::Accepted ? QFontMetrics(markFont(font())).horizontalAdvance(kCheck) + 2 : 0;
  // At least about square, so that "." or "'" stays a chip one can see and click
  // (and a corrected one's blue border does not cover its colour).
  const int width = std::max(fm.horizontalAdvance(label_) + 2 * kPadX + mark, fm.height() + 2);
  return {width, fm.height() + 2 * kPadY + 2};
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
    p.setPen(QPen(kSelected, 2.5));
    p.drawPath(path);
  } else if (mark_ == VerifyMark::Corrected) {
    p.setPen(QPen(kCorrected, 2.5));
    p.drawPath(path);
  } else {
    p.setPen(QPen(color_.darker(125), 1.0));
    p.drawPath(path);
  }
  const QColor ink = ExitColorScale::textOn(color_);
  p.setPen(ink);
  if (mark_ == VerifyMark::Accepted) {
    const QFont small = markFont(font());
    const int markWidth = QFontMetrics(small).horizontalAdvance(kCheck) + 2;
    const QRectF text = box.adjusted(0, 0, -markWidth, 0);
    p.drawText(text, Qt::AlignCenter, label_);
    p.setFont(small);
    p.drawText(QRectF(text.right() - 2, box.top() + 1, markWidth, box.height() - 2), Qt::AlignLeft | Qt::AlignTop,
               QString(kCheck));
    p.setFont(font());
  } else {
    p.drawText(box, Qt::AlignCenter, label_);
  }
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

namespace calm::ui {

RejectedDraftChip::RejectedDraftChip(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("rejectedDraft"));
  setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
}

QFont RejectedDraftChip::draftFont() const {
  QFont f = font();
  f.setPointSizeF(font().pointSizeF() * 0.82);
  f.setStrikeOut(true);
  return f;
}

void RejectedDraftChip::setDrafts(const QString& label, bool wordStart, const QString& tooltip) {
  const bool resize = label != label_;
  label_ = label;
  setProperty("wordGap", wordStart);
  setToolTip(tooltip);
  setAccessibleName(tooltip);
  stale_ = false;
  if (resize) updateGeometry();
  update();
}

void RejectedDraftChip::setStale(bool stale) {
  if (stale == stale_) return;
  stale_ = stale;
  update();
}

QSize RejectedDraftChip::sizeHint() const {
  const QFontMetrics fm(draftFont());
  const QFontMetrics chip(font());  // as tall as a token chip, so lines stay even
  return {fm.horizontalAdvance(label_) + 2 * kPadX - 2, chip.height() + 2 * kPadY + 2};
}

void RejectedDraftChip::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  if (stale_) p.setOpacity(0.35);
  const QRectF box = QRectF(rect()).adjusted(1, 1, -1, -1);
  QPainterPath path;
  path.addRoundedRect(box, kRadius, kRadius);
  p.setPen(QPen(QColor(0xc4, 0xc4, 0xc4), 1.0, Qt::DashLine));
  p.fillPath(path, QColor(0xf6, 0xf6, 0xf6));
  p.drawPath(path);
  p.setFont(draftFont());
  p.setPen(QColor(0x8a, 0x8a, 0x8a));
  p.drawText(box, Qt::AlignCenter, label_);
}

}  // namespace calm::ui
