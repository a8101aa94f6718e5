#include "widgets/ExitLayerLegend.h"

#include <QFontMetrics>
#include <QPainter>

#include "plots/ExitColorScale.h"

namespace calm::ui {

namespace {
constexpr int kBarWidth = 180;
constexpr int kBarHeight = 10;
}  // namespace

ExitLayerLegend::ExitLayerLegend(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("exitLayerLegend"));
  setToolTip(tr("Colour of a token: the decoder layer it left after. Green tokens were easy and left early; "
                "red ones needed the whole depth."));
}

void ExitLayerLegend::setLayers(int layers) {
  layers_ = layers;
  updateGeometry();
  update();
}

QSize ExitLayerLegend::sizeHint() const {
  const QFontMetrics fm(font());
  const int left = fm.horizontalAdvance(tr("exit layer")) + 8;
  return {left + kBarWidth + 4, kBarHeight + fm.height() + 6};
}

void ExitLayerLegend::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  const QFontMetrics fm(font());
  const QString title = tr("exit layer");
  const int left = fm.horizontalAdvance(title) + 8;
  const QRectF bar(left, 2, kBarWidth, kBarHeight);
  p.setPen(palette().color(QPalette::WindowText));
  p.drawText(QRectF(0, 0, left - 6, bar.bottom() + fm.height()), Qt::AlignRight | Qt::AlignVCenter, title);
  if (layers_ <= 0) return;
  // One block per layer, so the legend shows exactly the colours chips can take.
  const qreal w = bar.width() / layers_;
  for (int layer = 1; layer <= layers_; ++layer) {
    const QRectF block(bar.left() + (layer - 1) * w, bar.top(), w, bar.height());
    p.fillRect(block.adjusted(0, 0, layer < layers_ ? 0.5 : 0, 0), ExitColorScale::forLayer(layer, layers_));
  }
  p.setPen(QPen(palette().color(QPalette::Mid), 1));
  p.setBrush(Qt::NoBrush);
  p.drawRect(bar);
  // Labels: every layer when they fit, else the first, the middle and the last.
  const int step = layers_ <= 12 ? 1 : (layers_ + 5) / 6;
  p.setPen(palette().color(QPalette::WindowText));
  for (int layer = 1; layer <= layers_; ++layer) {
    if (layer != 1 && layer != layers_ && (layer - 1) % step != 0) continue;
    const qreal x = bar.left() + (layer - 0.5) * w;
    const QString label = QString::number(layer);
    p.drawText(QRectF(x - 15, bar.bottom() + 1, 30, fm.height()), Qt::AlignHCenter | Qt::AlignTop, label);
  }
}

}  // namespace calm::ui
