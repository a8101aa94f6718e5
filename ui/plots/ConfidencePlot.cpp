#include "plots/ConfidencePlot.h"

#include <algorithm>
#include <cmath>

#include <QFontMetrics>

#include "plots/ExitColorScale.h"
#include "plots/PlotStyle.h"
#include "session/TokenText.h"

namespace calm::ui {

namespace {
const QColor kCurve(0x2c, 0x5a, 0xa0);
const QColor kThreshold(0x55, 0x55, 0x55);
}  // namespace

ConfidencePlot::ConfidencePlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("confidencePlot"));
  title_ = PlotStyle::apply(this, tr("Confidence layer by layer"));
  message_ = PlotStyle::addPlaceholder(this);
  xAxis->setLabel(tr("decoder layer"));
  yAxis->setLabel(tr("confidence"));
  yAxis->setRange(0.0, 1.08);

  curve_ = addGraph();
  curve_->setPen(QPen(kCurve, 2.0));
  curve_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(kCurve, 1.5), QBrush(Qt::white), 7));
  curve_->setName(tr("confidence"));

  exitPoint_ = addGraph();
  exitPoint_->setLineStyle(QCPGraph::lsNone);
  exitPoint_->setName(tr("exit"));

  threshold_ = new QCPItemStraightLine(this);
  threshold_->setPen(QPen(kThreshold, 1.5, Qt::DashLine));
  thresholdLabel_ = new QCPItemText(this);
  thresholdLabel_->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
  thresholdLabel_->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
  thresholdLabel_->setColor(kThreshold);
  exitLine_ = new QCPItemStraightLine(this);
  exitLine_->setPen(QPen(QColor(0x99, 0x99, 0x99), 1.0, Qt::DotLine));

  setToolTip(tr("How sure the exit after each layer is about its prediction. The token leaves at the first "
                "layer whose confidence reaches the dashed threshold. Beside each point: that layer's best guess."));
  showMessage(tr("Generate, then click a token to see its confidence layer by layer."));
}

void ConfidencePlot::setModel(std::shared_ptr<const calm::Model> model) {
  model_ = std::move(model);
  showMessage(tr("Generate, then click a token to see its confidence layer by layer."));
}

void ConfidencePlot::clearItems() {
  for (QCPItemText* label : labels_) removeItem(label);
  labels_.clear();
}

void ConfidencePlot::showMessage(const QString& message) {
  index_ = -1;
  clearItems();
  curve_->data()->clear();
  exitPoint_->data()->clear();
  threshold_->setVisible(false);
  thresholdLabel_->setVisible(false);
  exitLine_->setVisible(false);
  title_->setText(tr("Confidence layer by layer"));
  message_->setText(message);
  message_->setVisible(true);
  xAxis->setRange(0.5, 8.5);
  replot(QCustomPlot::rpQueuedReplot);
}

QString ConfidencePlot::message() const { return message_->visible() ? message_->text() : QString(); }

void ConfidencePlot::showToken(int index, const calm::TokenTrace& token, const QString& piece,
                               calm::Measure measure) {
  const int layers = static_cast<int>(token.confidence.size());
  if (!model_ || layers == 0) {
    showMessage(tr("No per-layer trace for this token."));
    return;
  }
  index_ = index;
  clearItems();
  message_->setVisible(false);

  QVector<double> x, y;
  for (int i = 1; i <= layers; ++i) {
    const float c = token.confidence[static_cast<std::size_t>(i - 1)];
    if (!std::isfinite(c)) continue;
    x << i;
    y << c;
  }
  curve_->setData(x, y, true);

  const int exit = token.exit_layer;
  const QColor exitColor = ExitColorScale::forLayer(exit, layers);
  const float exitConfidence = exit >= 1 ? token.confidence[static_cast<std::size_t>(exit - 1)] : NAN;
  exitPoint_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(exitColor.darker(140), 2.0), QBrush(exitColor), 15));
  exitPoint_->data()->clear();
  if (std::isfinite(exitConfidence)) exitPoint_->addData(exit, exitConfidence);
  exitPoint_->setVisible(exit >= 1);  // 0: a playback's token still climbing
  exitLine_->setVisible(exit >= 1);
  exitLine_->point1->setCoords(exit, 0);
  exitLine_->point2->setCoords(exit, 1);

  const bool exits = token.threshold < 1.0f;
  threshold_->setVisible(exits);
  thresholdLabel_->setVisible(exits);
  threshold_->point1->setCoords(0, token.threshold);
  threshold_->point2->setCoords(1, token.threshold);
  thresholdLabel_->position->setCoords(0.99, token.threshold);
  thresholdLabel_->setText(tr("threshold λt = %1").arg(token.threshold, 0, 'f', 3));

  // Each layer's top-1 token beside its point; the final layer's answer in bold.
  const bool hasTop = static_cast<int>(token.top.size()) == layers;
  const int finalTop = hasTop && !token.top.back().empty() ? token.top.back().front().id : -1;
  // Labels that would overlap their left neighbour go one line higher (or
  // lower, for points near the top), alternating, so each stays readable.
  const QFontMetrics fm(font());
  const double pxPerLayer = std::max(1, axisRect()->width() > 0 ? axisRect()->width() : width() - 90) /
                            static_cast<double>(layers);
  const double pxPerUnit = std::max(1, axisRect()->height() > 0 ? axisRect()->height() : height() - 90) / 1.08;
  double prevY = NAN;
  int prevWidth = 0, prevLevel = 0;
  for (int i = 1; i <= layers && hasTop; ++i) {
    const auto& top = token.top[static_cast<std::size_t>(i - 1)];
    const float c = token.confidence[static_cast<std::size_t>(i - 1)];
    if (top.empty() || !std::isfinite(c)) {
      prevY = NAN;
      continue;
    }
    auto* label = new QCPItemText(this);
    const QString text = TokenText::quoted(QString::fromStdString(model_->tokenizer.piece(top.front().id)));
    label->setText(text);
    label->position->setCoords(i, c);
    const int textWidth = fm.horizontalAdvance(text) + 4;
    const bool crowded = std::isfinite(prevY) && (prevWidth + textWidth) / 2.0 > pxPerLayer - 2 &&
                         std::abs(c - prevY) * pxPerUnit < fm.height() + 2;
    const int level = crowded ? 1 - prevLevel : 0;
    const int gap = 6 + level * fm.height();
    const bool below = c > 0.85;
    label->setPositionAlignment(Qt::AlignHCenter | (below ? Qt::AlignTop : Qt::AlignBottom));
    label->setPadding(below ? QMargins(2, gap, 2, 2) : QMargins(2, 2, 2, gap));
    QFont f = font();
    f.setBold(i == exit);
    label->setFont(f);
    label->setColor(top.front().id == finalTop ? QColor(0x22, 0x22, 0x22) : QColor(0xa0, 0x40, 0x30));
    label->setClipToAxisRect(false);
    labels_.push_back(label);
    prevY = c;
    prevWidth = textWidth;
    prevLevel = level;
  }

  const QString where = exit < 1        ? tr("not decided after %1 of %2 layers").arg(x.isEmpty() ? 0 : int(x.back())).arg(layers)
                        : exit < layers ? tr("left after layer %1 of %2").arg(exit).arg(layers)
                                        : tr("ran all %1 layers").arg(layers);
  title_->setText(tr("Token %1 %2: %3").arg(index + 1).arg(TokenText::quoted(piece), where));
  yAxis->setLabel(tr("confidence (%1)").arg(QString::fromUtf8(calm::measure_name(measure))));
  xAxis->setRange(0.5, layers + 0.5);
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(layers <= 16 ? 1.0 : std::ceil(layers / 16.0));
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssNone);
  xAxis->setTicker(ticker);
  replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace calm::ui
