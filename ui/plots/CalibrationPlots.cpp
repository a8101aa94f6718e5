#include "plots/CalibrationPlots.h"

#include <algorithm>
#include <cmath>

#include <QHBoxLayout>
#include <QSharedPointer>
#include <QPainter>
#include <QPixmap>
#include <qcustomplot.h>

#include "plots/ExitColorScale.h"
#include "plots/PlotStyle.h"

namespace calm::ui {

namespace {
const QColor kLine(0x2c, 0x5a, 0xa0);
const QColor kUntested(0xaa, 0xaa, 0xaa);
const QColor kChosen(0x1a, 0x7f, 0x37);
}  // namespace

CalibrationPlots::Panel CalibrationPlots::makePanel(const QString& title, const QString& yLabel) {
  Panel p;
  p.plot = new QCustomPlot(this);
  p.title = PlotStyle::apply(p.plot, title);
  p.message = PlotStyle::addPlaceholder(p.plot);
  p.plot->xAxis->setLabel(tr("λ  (→ more aggressive)"));
  p.plot->xAxis->setRangeReversed(true);
  p.plot->yAxis->setLabel(yLabel);
  p.tested = p.plot->addGraph();
  p.tested->setPen(QPen(kLine, 2.0));
  p.tested->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(kLine, 1.5), QBrush(Qt::white), 6));
  p.untested = p.plot->addGraph();
  p.untested->setPen(QPen(kUntested, 1.5, Qt::DashLine));
  p.untested->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(kUntested, 1.2), QBrush(Qt::white), 5));
  p.chosen = p.plot->addGraph();
  p.chosen->setLineStyle(QCPGraph::lsNone);
  p.chosen->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(kChosen.darker(130), 1.5), QBrush(kChosen), 13));
  p.limit = new QCPItemStraightLine(p.plot);
  p.limit->setPen(QPen(QColor(0xd7, 0x30, 0x27), 1.5, Qt::DashLine));
  p.limitLabel = new QCPItemText(p.plot);
  p.limitLabel->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
  p.limitLabel->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
  p.limitLabel->setColor(QColor(0xb4, 0x23, 0x18));
  p.choice = new QCPItemStraightLine(p.plot);
  p.choice->setPen(QPen(kChosen, 1.2, Qt::DotLine));
  return p;
}

CalibrationPlots::CalibrationPlots(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("calibrationPlots"));
  plots_[0] = makePanel(tr("Mean loss per λ"), tr("mean loss"));
  plots_[1] = makePanel(tr("p-value per λ"), tr("p-value of “loss > δ”"));
  plots_[2] = makePanel(tr("Layers per token"), tr("average layers"));
  plots_[0].plot->setObjectName(QStringLiteral("calibrationLossPlot"));
  plots_[1].plot->setObjectName(QStringLiteral("calibrationPValuePlot"));
  plots_[2].plot->setObjectName(QStringLiteral("calibrationLayersPlot"));
  plots_[0].plot->setToolTip(tr("Average loss of CALM on the calibration set at each λ (x axis: from 1, the full "
                                "model, towards 0). The dashed line is δ."));
  pValueTip_ = tr("How likely a mean loss this low would be if the true loss were above δ. "
                  "Below the dashed ε line a λ passes; the walk from λ = 1 stops at the "
                  "first λ that fails (grey points were never tested). The green diamond is the "
                  "chosen λ: the last one that passed.");
  plots_[1].plot->setToolTip(pValueTip_);
  plots_[2].plot->setToolTip(tr("Average decoder layers per token at each λ: the cost side of the trade."));
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(6);
  for (Panel& p : plots_) layout->addWidget(p.plot, 1);
  clear(tr("Run a calibration to see these plots."));
}

void CalibrationPlots::clear(const QString& message) {
  for (Panel& p : plots_) {
    p.tested->data()->clear();
    p.untested->data()->clear();
    p.chosen->data()->clear();
    p.limit->setVisible(false);
    p.limitLabel->setVisible(false);
    p.choice->setVisible(false);
    p.message->setText(message);
    p.message->setVisible(true);
    p.plot->xAxis->setRange(0.0, 1.0);
    p.plot->yAxis->setRange(0.0, 1.0);
    p.plot->replot(QCustomPlot::rpQueuedReplot);
  }
}

void CalibrationPlots::showResult(const calm::CalibrationResult& r, int layers) {
  if (r.points.empty()) {
    clear(tr("The calibration has no grid points."));
    return;
  }
  double maxLoss = r.delta, maxBound = r.delta;
  for (const auto& point : r.points) {
    maxLoss = std::max(maxLoss, point.mean_loss);
    maxBound = std::max(maxBound, point.crc_bound);
  }
  // Learn then Test: p-values against epsilon, on a log scale; conformal risk
  // control: its bound against delta.
  const bool ltt = calm::is_learn_then_test(r.method);
  plots_[1].title->setText(ltt ? tr("p-value per λ") : tr("Conformal risk bound per λ"));
  plots_[1].plot->yAxis->setLabel(ltt ? tr("p-value of “loss > δ”") : tr("(n · envelope mean + 1) / (n + 1)"));
  if (!ltt)
    plots_[1].plot->setToolTip(tr("Conformal risk control's bound on the expected loss at each λ: (n × mean + 1) / "
                                  "(n + 1) over the monotone envelope of the losses (each example's highest loss at "
                                  "this or any higher λ). Below the dashed δ line a λ passes; the green diamond is "
                                  "the last λ before the first that fails."));
  else
    plots_[1].plot->setToolTip(pValueTip_);
  for (int k = 0; k < 3; ++k) {
    Panel& p = plots_[k];
    p.message->setVisible(false);
    QVector<double> tx, ty, ux, uy;
    const auto value = [k, ltt](const calm::GridPointResult& g) {
      if (k == 0) return g.mean_loss;
      if (k == 1) return ltt ? std::max(g.p_value, 1e-12) : g.crc_bound;
      return g.mean_layers;
    };
    // The untested stretch starts at the last tested point so the two lines join.
    for (std::size_t i = 0; i < r.points.size(); ++i) {
      const calm::GridPointResult& g = r.points[i];
      if (g.tested) {
        tx << g.lambda;
        ty << value(g);
      } else {
        if (ux.isEmpty() && i > 0) {
          ux << r.points[i - 1].lambda;
          uy << value(r.points[i - 1]);
        }
        ux << g.lambda;
        uy << value(g);
      }
    }
    p.tested->setData(tx, ty, true);
    p.untested->setData(ux, uy, true);
    p.chosen->data()->clear();
    if (r.chosen_index) p.chosen->addData(r.lambda, value(r.points[*r.chosen_index]));
    p.choice->setVisible(r.chosen_index.has_value());
    p.choice->point1->setCoords(r.lambda, 0);
    p.choice->point2->setCoords(r.lambda, 1);

    const double lo = r.points.back().lambda, hi = r.points.front().lambda;
    p.plot->xAxis->setRange(lo - 0.02, hi + 0.02);
    if (k == 0) {
      p.plot->yAxis->setRange(0.0, std::min(1.0, maxLoss * 1.15 + 0.01));
      p.limit->setVisible(true);
      p.limit->point1->setCoords(0, r.delta);
      p.limit->point2->setCoords(1, r.delta);
      p.limitLabel->setVisible(true);
      p.limitLabel->position->setCoords(0.02, r.delta);
      p.limitLabel->setText(tr("δ = %1").arg(r.delta, 0, 'g', 3));
    } else if (k == 1 && !ltt) {
      p.plot->yAxis->setScaleType(QCPAxis::stLinear);
      p.plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
      p.plot->yAxis->setNumberFormat(QStringLiteral("g"));
      p.plot->yAxis->setNumberPrecision(3);
      p.plot->yAxis->setRange(0.0, std::min(1.0, maxBound * 1.15 + 0.01));
      p.limit->setVisible(true);
      p.limit->point1->setCoords(0, r.delta);
      p.limit->point2->setCoords(1, r.delta);
      p.limitLabel->setVisible(true);
      p.limitLabel->position->setCoords(0.02, r.delta);
      p.limitLabel->setText(tr("δ = %1").arg(r.delta, 0, 'g', 3));
    } else if (k == 1) {
      p.plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
      p.plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
      p.plot->yAxis->setNumberFormat(QStringLiteral("eb"));
      p.plot->yAxis->setNumberPrecision(0);
      double minP = 1.0;
      for (const auto& g : r.points) minP = std::min(minP, std::max(g.p_value, 1e-12));
      p.plot->yAxis->setRange(std::min(minP, r.epsilon) / 3.0, 2.0);
      p.limit->setVisible(true);
      p.limit->point1->setCoords(0, r.epsilon);
      p.limit->point2->setCoords(1, r.epsilon);
      p.limitLabel->setVisible(true);
      p.limitLabel->position->setCoords(0.02, r.epsilon);
      p.limitLabel->setText(tr("ε = %1").arg(r.epsilon, 0, 'g', 3));
    } else {
      p.plot->yAxis->setRange(0.0, layers + 0.5);
      p.limit->setVisible(false);
      p.limitLabel->setVisible(false);
      // The chosen point takes the exit colour of its average depth.
      const QColor fill = r.chosen_index ? ExitColorScale::at((r.points[*r.chosen_index].mean_layers - 1.0) /
                                                              std::max(1, layers - 1))
                                         : kChosen;
      p.chosen->setScatterStyle(
          QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(kChosen.darker(130), 1.5), QBrush(fill), 13));
    }
    p.plot->replot(QCustomPlot::rpQueuedReplot);
  }
}

bool CalibrationPlots::savePng(const QString& path) {
  for (Panel& p : plots_) p.plot->replot(QCustomPlot::rpImmediateRefresh);
  const QPixmap image = grab();
  return image.save(path, "PNG");
}

}  // namespace calm::ui
