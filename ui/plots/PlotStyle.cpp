#include "plots/PlotStyle.h"

#include <qcustomplot.h>

namespace calm::ui {

namespace {
void styleAxis(QCPAxis* axis, const QFont& font) {
  const QColor ink(0x33, 0x33, 0x33);
  axis->setBasePen(QPen(QColor(0x99, 0x99, 0x99)));
  axis->setTickPen(QPen(QColor(0x99, 0x99, 0x99)));
  axis->setSubTickPen(QPen(QColor(0xbb, 0xbb, 0xbb)));
  axis->setTickLabelColor(ink);
  axis->setLabelColor(ink);
  axis->setTickLabelFont(font);
  QFont label = font;
  label.setPointSizeF(font.pointSizeF() * 1.05);
  axis->setLabelFont(label);
  axis->grid()->setPen(QPen(QColor(0xe4, 0xe4, 0xe4), 1, Qt::SolidLine));
  axis->grid()->setSubGridVisible(false);
}
}  // namespace

QCPTextElement* PlotStyle::apply(QCustomPlot* plot, const QString& title) {
  const QFont font = plot->font();
  plot->setBackground(QBrush(Qt::white));
  for (QCPAxis* axis : {plot->xAxis, plot->yAxis, plot->xAxis2, plot->yAxis2}) styleAxis(axis, font);
  plot->xAxis2->setVisible(false);
  plot->yAxis2->setVisible(false);
  plot->setAntialiasedElements(QCP::aePlottables | QCP::aeItems);
  // Lines wider than 1 px go through Qt's stroker as one polyline otherwise:
  // the heat map's zig-zag exit path alone took 25-350 ms per replot (64 tokens,
  // low lambda); segment by segment it takes 2-7 ms and looks the same.
  plot->setPlottingHint(QCP::phFastPolylines, true);
  plot->plotLayout()->insertRow(0);
  QFont titleFont = font;
  titleFont.setPointSizeF(font.pointSizeF() * 1.1);
  titleFont.setBold(true);
  auto* element = new QCPTextElement(plot, title, titleFont);
  element->setTextColor(QColor(0x22, 0x22, 0x22));
  element->setMargins(QMargins(6, 6, 6, 2));
  plot->plotLayout()->addElement(0, 0, element);
  plot->plotLayout()->setRowSpacing(0);
  return element;
}

QCPItemText* PlotStyle::addPlaceholder(QCustomPlot* plot) {
  auto* text = new QCPItemText(plot);
  text->position->setType(QCPItemPosition::ptAxisRectRatio);
  text->position->setCoords(0.5, 0.5);
  text->setPositionAlignment(Qt::AlignCenter);
  text->setColor(QColor(0x77, 0x77, 0x77));
  QFont font = plot->font();
  font.setPointSizeF(font.pointSizeF() * 1.05);
  text->setFont(font);
  text->setClipToAxisRect(false);
  text->setVisible(false);
  return text;
}

}  // namespace calm::ui
