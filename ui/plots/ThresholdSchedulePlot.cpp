#include "plots/ThresholdSchedulePlot.h"

#include <algorithm>

#include "plots/PlotStyle.h"
#include "decode/measure.h"

namespace calm::ui {

ThresholdSchedulePlot::ThresholdSchedulePlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("schedulePlot"));
  title_ = PlotStyle::apply(this, tr("Threshold schedule"));
  xAxis->setLabel(tr("output position t"));
  yAxis->setLabel(tr("threshold λt"));
  schedule_ = addGraph();
  schedule_->setPen(QPen(QColor(0x2c, 0x5a, 0xa0), 2.0));
  schedule_->setBrush(QBrush(QColor(0x2c, 0x5a, 0xa0, 28)));
  base_ = new QCPItemStraightLine(this);
  base_->setPen(QPen(QColor(0x77, 0x77, 0x77), 1.0, Qt::DashLine));
  baseLabel_ = new QCPItemText(this);
  baseLabel_->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
  baseLabel_->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
  baseLabel_->setColor(QColor(0x55, 0x55, 0x55));
  end_ = new QCPItemStraightLine(this);
  end_->setPen(QPen(QColor(0xd7, 0x30, 0x27, 160), 1.0, Qt::DotLine));
  note_ = PlotStyle::addPlaceholder(this);
  setToolTip(tr("A token may leave once its confidence reaches λt. The threshold starts higher and decays "
                "towards 0.9 λ over the output: tau sets how fast (tau = 0 keeps it almost flat)."));
}

void ThresholdSchedulePlot::showSchedule(double lambda, double tau, int maxNewTokens, int generated) {
  const int n = std::max(1, maxNewTokens);
  QVector<double> t, y;
  const bool never = calm::never_exits(static_cast<float>(lambda));
  for (int i = 0; i < n; ++i) {
    t << i;
    y << (never ? 1.0 : calm::threshold_at(static_cast<float>(lambda), static_cast<float>(tau), i, n));
  }
  schedule_->setData(t, y, true);
  base_->setVisible(!never);
  baseLabel_->setVisible(!never);
  base_->point1->setCoords(0, 0.9 * lambda);
  base_->point2->setCoords(1, 0.9 * lambda);
  baseLabel_->position->setCoords(0.99, 0.9 * lambda);
  baseLabel_->setText(tr("0.9 λ = %1").arg(0.9 * lambda, 0, 'f', 3));
  end_->setVisible(generated > 0);
  end_->point1->setCoords(generated - 0.5, 0);
  end_->point2->setCoords(generated - 0.5, 1);
  note_->setVisible(never);
  note_->setText(tr("λ = 1: no token may leave early — this is the full model."));
  title_->setText(tr("Threshold schedule: λ = %1, tau = %2, N = %3%4")
                      .arg(lambda, 0, 'f', 3)
                      .arg(tau, 0, 'g', 3)
                      .arg(n)
                      .arg(generated > 0 ? tr(" (dotted: end of the last output)") : QString()));
  xAxis->setRange(-0.5, n - 0.5);
  yAxis->setRange(0.0, 1.05);
  replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace calm::ui
