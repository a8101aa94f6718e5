#include "widgets/MeasureComparisonView.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

#include "widgets/ExitLayerLegend.h"
#include "widgets/TokenView.h"

namespace calm::ui {
namespace {

QString measureLabel(calm::Measure m) {
  switch (m) {
    case calm::Measure::Softmax: return QObject::tr("Softmax gap");
    case calm::Measure::SoftmaxMax: return QObject::tr("Softmax top-1");
    case calm::Measure::State: return QObject::tr("Hidden-state saturation");
    case calm::Measure::Classifier: return QObject::tr("Early-exit classifier");
  }
  return {};
}

}  // namespace

MeasureComparisonView::MeasureComparisonView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("measureComparison"));
  compare_ = new QPushButton(tr("Compare the measures"));
  compare_->setObjectName(QStringLiteral("compareMeasuresButton"));
  compare_->setToolTip(tr("Decode the prompt once with each confidence measure, each at its certified λ when the "
                          "model ships one for the current guarantee, else at the hand-set λ."));
  status_ = new QLabel(tr("The same prompt decoded with each measure and with the local oracle, coloured by exit layer."));
  status_->setObjectName(QStringLiteral("compareMeasuresStatus"));
  status_->setWordWrap(true);
  auto* top = new QHBoxLayout;
  top->addWidget(compare_);
  top->addWidget(status_, 1);
  legend_ = new ExitLayerLegend;
  top->addWidget(legend_);
  auto* content = new QWidget;
  rowsLayout_ = new QVBoxLayout(content);
  rowsLayout_->setContentsMargins(0, 0, 0, 0);
  rowsLayout_->addStretch(1);
  auto* scroll = new QScrollArea;
  scroll->setWidget(content);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(scroll, 1);
  connect(compare_, &QPushButton::clicked, this, &MeasureComparisonView::compareRequested);
}

void MeasureComparisonView::setModel(std::shared_ptr<const calm::Model> model) {
  model_ = std::move(model);
  legend_->setLayers(model_ ? model_->config.decoder_layers : 0);
  showRuns({});
}

void MeasureComparisonView::showBusy() {
  compare_->setEnabled(false);
  status_->setText(tr("<span style='color:#666'>Decoding with each measure…</span>"));
}

void MeasureComparisonView::showMessage(const QString& text) {
  compare_->setEnabled(true);
  status_->setText(text);
}

void MeasureComparisonView::showRuns(const std::vector<MeasureRun>& runs) {
  compare_->setEnabled(true);
  for (Row& r : rows_) {
    delete r.summary;
    delete r.tokens;
  }
  rows_.clear();
  for (const MeasureRun& run : runs) {
    Row row;
    const calm::DecodeResult& r = run.result;
    const double flops = r.flops > 0.0 ? r.full_flops / r.flops : 0.0;
    const QString rule = run.oracle ? tr("<b>Local oracle</b> · each token leaves at the first layer that agrees "
                                         "with the last")
                                    : tr("<b>%1</b> · λ = %2 (%3)")
                                          .arg(measureLabel(run.measure))
                                          .arg(run.lambda, 0, 'f', 2)
                                          .arg(run.lambdaSource.toHtmlEscaped());
    const double speedup = run.seconds > 0.0 ? run.fullSeconds / run.seconds : 0.0;
    row.summary = new QLabel(tr("%1 · <b>%2 of %3 layers</b> · <b>×%4 measured speedup</b> (%5 ms) · ×%6 in FLOPs")
                                 .arg(rule)
                                 .arg(r.average_layers(), 0, 'f', 2)
                                 .arg(r.num_layers)
                                 .arg(speedup, 0, 'f', 2)
                                 .arg(run.seconds * 1000.0, 0, 'f', 1)
                                 .arg(flops, 0, 'f', 2));
    row.summary->setObjectName(QStringLiteral("measureSummary"));
    row.summary->setWordWrap(true);
    row.tokens = new TokenView;
    row.tokens->setHeaderVisible(false);
    row.tokens->setModel(model_);
    row.tokens->setMeasure(run.measure);
    row.tokens->showTokens(r.trace, run.pieces);
    row.tokens->setFixedHeight(84);  // a row of chips, two when they wrap
    const int at = rowsLayout_->count() - 1;  // before the stretch
    rowsLayout_->insertWidget(at, row.summary);
    rowsLayout_->insertWidget(at + 1, row.tokens);
    rows_.push_back(row);
  }
  if (!runs.empty()) status_->setText(tr("Each row is the same prompt; chips are coloured by exit layer."));
}

TokenView* MeasureComparisonView::tokensOf(int row) const { return rows_.at(static_cast<std::size_t>(row)).tokens; }
QLabel* MeasureComparisonView::summaryOf(int row) const { return rows_.at(static_cast<std::size_t>(row)).summary; }

}  // namespace calm::ui
