#include "plots/LayerHeatmap.h"

#include <algorithm>
#include <cmath>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "plots/ExitColorScale.h"
#include "plots/PlotStyle.h"
#include "session/TokenText.h"

namespace calm::ui {

namespace {

// Confidence: white to deep blue, kept apart from the green-red exit scale so
// that "how sure" and "how deep" never read as the same thing.
QCPColorGradient confidenceGradient() {
  QCPColorGradient g;
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setColorStopAt(0.0, QColor(0xf7, 0xfb, 0xff));
  g.setColorStopAt(0.35, QColor(0xc6, 0xdb, 0xef));
  g.setColorStopAt(0.7, QColor(0x6b, 0xae, 0xd6));
  g.setColorStopAt(1.0, QColor(0x08, 0x45, 0x94));
  return g;
}

QCPColorGradient agreementGradient() {
  QCPColorGradient g;
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setColorStopAt(0.0, QColor(0xee, 0xee, 0xee));
  g.setColorStopAt(0.499, QColor(0xee, 0xee, 0xee));
  g.setColorStopAt(0.5, QColor(0x6b, 0xae, 0xd6));
  g.setColorStopAt(1.0, QColor(0x6b, 0xae, 0xd6));
  return g;
}

}  // namespace

LayerHeatmap::LayerHeatmap(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("layerHeatmap"));
  modeBox_ = new QComboBox(this);
  modeBox_->setObjectName(QStringLiteral("heatmapMode"));
  modeBox_->addItem(tr("Confidence after each layer"));
  modeBox_->addItem(tr("Agrees with the final layer's token"));
  modeBox_->setToolTip(tr("<b>Confidence</b>: the measure after every layer, as the full depth sees it.<br>"
                          "<b>Agreement</b>: blue where that layer's best token already equals the final "
                          "layer's, so exiting there would not change the output."));
  connect(modeBox_, &QComboBox::currentIndexChanged, this,
          [this](int i) { setMode(i == 1 ? Mode::Agreement : Mode::Confidence); });

  plot_ = new QCustomPlot(this);
  plot_->setObjectName(QStringLiteral("heatmapPlot"));
  title_ = PlotStyle::apply(plot_, tr("Every token × every layer"));
  message_ = PlotStyle::addPlaceholder(plot_);
  plot_->xAxis->setLabel(tr("output token"));
  plot_->yAxis->setLabel(tr("decoder layer"));
  plot_->axisRect()->setupFullAxesBox(false);
  plot_->xAxis->grid()->setVisible(false);
  plot_->yAxis->grid()->setVisible(false);

  map_ = new QCPColorMap(plot_->xAxis, plot_->yAxis);
  map_->setInterpolate(false);
  scale_ = new QCPColorScale(plot_);
  scale_->setType(QCPAxis::atRight);
  scale_->setBarWidth(10);
  plot_->plotLayout()->addElement(1, 1, scale_);
  map_->setColorScale(scale_);
  auto* group = new QCPMarginGroup(plot_);
  plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);

  path_ = plot_->addGraph();
  path_->setPen(QPen(QColor(0x20, 0x20, 0x20), 2.0));
  path_->setName(tr("exit layer"));

  selection_ = new QCPItemRect(plot_);
  selection_->setPen(QPen(QColor(0x1f, 0x3b, 0x8f), 2.0));
  selection_->setBrush(Qt::NoBrush);
  selection_->setVisible(false);
  filling_ = new QCPItemRect(plot_);
  filling_->setPen(QPen(QColor(0x55, 0x55, 0x55), 1.0, Qt::DashLine));
  filling_->setBrush(QBrush(QColor(0x55, 0x55, 0x55), Qt::BDiagPattern));
  filling_->setVisible(false);

  connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* event) {
    if (tokens_.empty()) return;
    const double key = plot_->xAxis->pixelToCoord(event->position().x());
    const int index = static_cast<int>(std::lround(key));
    if (index >= 0 && index < static_cast<int>(tokens_.size())) emit tokenClicked(index);
  });
  plot_->setToolTip(tr("Each column is one output token, each row a decoder layer. The line marks the layer "
                       "where each token actually left, its dots in the token's colour. Click a column to select that token."));

  auto* header = new QHBoxLayout;
  header->setContentsMargins(0, 0, 0, 0);
  header->addWidget(new QLabel(tr("Colour:"), this));
  header->addWidget(modeBox_);
  header->addStretch(1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(header);
  layout->addWidget(plot_, 1);
  clear();
}

void LayerHeatmap::setTokens(const std::vector<calm::TokenTrace>& tokens, const QStringList& pieces, int layers) {
  tokens_ = tokens;
  pieces_ = pieces;
  layers_ = layers;
  if (selected_ >= static_cast<int>(tokens_.size())) selected_ = -1;
  rebuild();
}

void LayerHeatmap::clear() {
  showMessage(tr("Generate to see every token's confidence at every layer."));
}

void LayerHeatmap::showMessage(const QString& message) {
  tokens_.clear();
  pieces_.clear();
  layers_ = 0;
  selected_ = -1;
  placeholder_ = message;
  rebuild();
}

QString LayerHeatmap::message() const { return message_->visible() ? message_->text() : QString(); }

void LayerHeatmap::setMode(Mode mode) {
  mode_ = mode;
  if (modeBox_->currentIndex() != (mode == Mode::Agreement ? 1 : 0))
    modeBox_->setCurrentIndex(mode == Mode::Agreement ? 1 : 0);
  rebuild();
}

void LayerHeatmap::setSelected(int index) {
  selected_ = index;
  const bool show = index >= 0 && index < static_cast<int>(tokens_.size()) && layers_ > 0;
  selection_->setVisible(show);
  if (show) {
    selection_->topLeft->setCoords(index - 0.5, layers_ + 0.5);
    selection_->bottomRight->setCoords(index + 0.5, 0.5);
  }
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

void LayerHeatmap::rebuild() {
  const int n = static_cast<int>(tokens_.size());
  const bool traced = n > 0 && layers_ > 0 && static_cast<int>(tokens_.front().confidence.size()) == layers_;
  message_->setVisible(!traced);
  message_->setText(placeholder_);
  map_->setVisible(traced);
  scale_->setVisible(traced);  // no colour scale without colours
  path_->data()->clear();
  if (!traced) {
    for (QCPGraph* g : exitMarks_) plot_->removeGraph(g);
    exitMarks_.clear();
    map_->data()->clear();
    selection_->setVisible(false);
    filling_->setVisible(false);
    plot_->xAxis->setRange(-0.5, 9.5);
    plot_->yAxis->setRange(0.5, 8.5);
    plot_->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  const bool agreement = mode_ == Mode::Agreement;
  const bool playback = revealToken_ >= 0;
  map_->data()->setSize(n, layers_);
  map_->data()->clearAlpha();
  map_->data()->setRange(QCPRange(0, n - 1), QCPRange(1, layers_));
  const double width = std::max(plot_->axisRect()->width(), plot_->width() - 150);
  QVector<double> px, py;
  for (int t = 0; t < n; ++t) {
    const calm::TokenTrace& token = tokens_[static_cast<std::size_t>(t)];
    const int finalTop = !token.top.empty() && !token.top.back().empty() ? token.top.back().front().id : -1;
    for (int i = 1; i <= layers_; ++i) {
      double v;
      if (agreement) {
        const auto& top = token.top[static_cast<std::size_t>(i - 1)];
        v = !top.empty() && top.front().id == finalTop ? 1.0 : 0.0;
      } else {
        const float c = token.confidence[static_cast<std::size_t>(i - 1)];
        v = std::isfinite(c) ? c : 0.0;
      }
      map_->data()->setCell(t, i - 1, v);
      const int ran = t < revealToken_ ? token.exit_layer : t == revealToken_ ? revealLayer_ : 0;
      if (playback && i > ran) map_->data()->setAlpha(t, i - 1, 0);
    }
    if (playback && (t > revealToken_ || (t == revealToken_ && !revealExited_))) continue;
    px << t;
    py << token.exit_layer;
  }
  filling_->setVisible(playback && revealFilling_ && revealToken_ < n);
  if (filling_->visible()) {
    filling_->topLeft->setCoords(revealToken_ - 0.5, layers_ + 0.5);
    filling_->bottomRight->setCoords(revealToken_ + 0.5, revealLayer_ + 0.5);
  }
  path_->setData(px, py, true);
  // The exit points in the chips' colours: one scatter graph per exit layer.
  for (QCPGraph* g : exitMarks_) plot_->removeGraph(g);
  exitMarks_.clear();
  for (int layer = 1; layer <= layers_; ++layer) {
    QVector<double> mx, my;
    for (int k = 0; k < px.size(); ++k)
      if (py[k] == layer) {
        mx << px[k];
        my << layer;
      }
    if (mx.isEmpty()) continue;
    QCPGraph* marks = plot_->addGraph();
    marks->setLineStyle(QCPGraph::lsNone);
    const QColor colour = ExitColorScale::forLayer(layer, layers_);
    const int size = std::clamp(static_cast<int>(width / std::max(1, n) * 0.6), 5, 10);
    marks->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0x20, 0x20, 0x20), 1.2),
                                           QBrush(colour), size));
    marks->setData(mx, my, true);
    exitMarks_.push_back(marks);
  }
  map_->setGradient(agreement ? agreementGradient() : confidenceGradient());
  map_->setDataRange(QCPRange(0.0, 1.0));
  scale_->axis()->setLabel(agreement ? tr("agrees with final (1) or not (0)") : tr("confidence"));
  if (agreement) {
    QSharedPointer<QCPAxisTickerText> t(new QCPAxisTickerText);
    t->addTick(0.0, tr("no"));
    t->addTick(1.0, tr("yes"));
    scale_->axis()->setTicker(t);
  } else {
    scale_->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  }

  // Token labels under the columns while they fit; positions otherwise.
  const double pixelsPerToken = width / std::max(1, n);
  if (n <= 60 && pixelsPerToken >= 11) {
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (int t = 0; t < n; ++t)
      ticker->addTick(t, playback && (t > revealToken_ || (t == revealToken_ && !revealExited_))
                             ? QString()  // not decided yet
                                                      : TokenText::chipLabel(t < pieces_.size() ? pieces_[t] : QString()));
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setTickLabelRotation(pixelsPerToken < 40 ? 60 : 0);
    plot_->xAxis->setLabel(QString());
  } else {
    plot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    plot_->xAxis->setTickLabelRotation(0);
    plot_->xAxis->setLabel(tr("output token (position)"));
  }
  QSharedPointer<QCPAxisTickerFixed> layersTicker(new QCPAxisTickerFixed);
  layersTicker->setTickStep(layers_ <= 16 ? 1.0 : std::ceil(layers_ / 16.0));
  layersTicker->setScaleStrategy(QCPAxisTickerFixed::ssNone);
  plot_->yAxis->setTicker(layersTicker);
  plot_->xAxis->setRange(-0.5, n - 0.5);
  plot_->yAxis->setRange(0.5, layers_ + 0.5);
  title_->setText(agreement ? tr("Where each layer already agrees with the final layer · line: where each token left")
                            : tr("Confidence of every token at every layer · line: where each token left"));
  setSelected(selected_);
}

void LayerHeatmap::setReveal(int token, int layer, bool exited, bool filling) {
  if (token == revealToken_ && layer == revealLayer_ && exited == revealExited_ && filling == revealFilling_) return;
  revealToken_ = token;
  revealLayer_ = layer;
  revealExited_ = exited;
  revealFilling_ = filling;
  rebuild();
}

}  // namespace calm::ui
