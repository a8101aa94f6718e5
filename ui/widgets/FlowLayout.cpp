#include "widgets/FlowLayout.h"

#include <QWidget>

namespace calm::ui {

FlowLayout::FlowLayout(QWidget* parent, int tokenGap, int wordGap, int lineGap)
    : QLayout(parent), tokenGap_(tokenGap), wordGap_(wordGap), lineGap_(lineGap) {}

FlowLayout::~FlowLayout() {
  while (QLayoutItem* item = takeAt(0)) delete item;
}

void FlowLayout::addItem(QLayoutItem* item) { items_.append(item); }

void FlowLayout::insertWidget(int index, QWidget* widget) {
  addChildWidget(widget);
  auto* item = new QWidgetItem(widget);
  if (index < 0 || index > items_.size()) index = static_cast<int>(items_.size());
  items_.insert(index, item);
  invalidate();
}

QLayoutItem* FlowLayout::itemAt(int index) const {
  return index >= 0 && index < items_.size() ? items_.at(index) : nullptr;
}

QLayoutItem* FlowLayout::takeAt(int index) {
  return index >= 0 && index < items_.size() ? items_.takeAt(index) : nullptr;
}

int FlowLayout::heightForWidth(int width) const { return arrange(QRect(0, 0, width, 0), false); }

QSize FlowLayout::minimumSize() const {
  QSize size;
  for (const QLayoutItem* item : items_) size = size.expandedTo(item->minimumSize());
  const QMargins m = contentsMargins();
  return size + QSize(m.left() + m.right(), m.top() + m.bottom());
}

QSize FlowLayout::sizeHint() const { return minimumSize(); }

void FlowLayout::setGeometry(const QRect& rect) {
  QLayout::setGeometry(rect);
  arrange(rect, true);
}

int FlowLayout::arrange(const QRect& rect, bool apply) const {
  const QMargins m = contentsMargins();
  const QRect area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom());
  int x = area.x(), y = area.y(), lineHeight = 0;
  bool lineStart = true;
  for (QLayoutItem* item : items_) {
    const QWidget* w = item->widget();
    if (w && w->isHidden()) continue;
    const QSize hint = item->sizeHint();
    const int gap = lineStart ? 0 : (w && w->property("wordGap").toBool() ? wordGap_ : tokenGap_);
    if (!lineStart && x + gap + hint.width() > area.right() + 1) {
      x = area.x();
      y += lineHeight + lineGap_;
      lineHeight = 0;
      lineStart = true;
    }
    const int at = lineStart ? x : x + gap;
    if (apply) item->setGeometry(QRect(QPoint(at, y), hint));
    x = at + hint.width();
    lineHeight = qMax(lineHeight, hint.height());
    lineStart = false;
  }
  return y + lineHeight - rect.y() + m.bottom();
}

}  // namespace calm::ui
