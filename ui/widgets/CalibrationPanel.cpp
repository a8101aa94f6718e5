#include "widgets/CalibrationPanel.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "plots/CalibrationPlots.h"

namespace calm::ui {

CalibrationPanel::CalibrationPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("calibrationPanel"));
  sets_ = new QComboBox(this);
  sets_->setObjectName(QStringLiteral("calibrationSetBox"));
  sets_->setToolTip(tr("The examples to calibrate on: JSONL, one {\"input\", \"reference\"} object per line. "
                       "References are needed for risk consistency only."));
  sets_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  sets_->setMinimumContentsLength(22);
  chooseFile_ = new QPushButton(tr("JSONL file…"), this);
  chooseFile_->setObjectName(QStringLiteral("calibrationFileButton"));
  examples_ = new QSpinBox(this);
  examples_->setObjectName(QStringLiteral("calibrationExamples"));
  examples_->setRange(0, 100000);
  examples_->setValue(40);
  examples_->setSpecialValueText(tr("all"));
  examples_->setToolTip(tr("How many examples of the set to use (0: all). More examples give a tighter "
                           "guarantee and so a more aggressive λ, but take longer: every example is decoded "
                           "once per λ of the grid."));
  step_ = new QComboBox(this);
  step_->setObjectName(QStringLiteral("calibrationStep"));
  step_->addItem(QStringLiteral("0.1"), 0.1);
  step_->addItem(QStringLiteral("0.05"), 0.05);
  step_->addItem(QStringLiteral("0.025"), 0.025);
  step_->setCurrentIndex(1);
  step_->setToolTip(tr("Spacing of the λ grid, walked from 1 downwards (the paper used 0.05)."));
  run_ = new QPushButton(tr("Calibrate"), this);
  run_->setObjectName(QStringLiteral("calibrateButton"));
  run_->setToolTip(tr("Decode every example with the full model and at every λ of the grid, under the "
                      "measure, τ, consistency and metric set on the left."));
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName(QStringLiteral("calibrationCancelButton"));
  cancel_->setEnabled(false);
  progress_ = new QProgressBar(this);
  progress_->setObjectName(QStringLiteral("calibrationProgress"));
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setTextVisible(true);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("calibrationStatus"));
  status_->setWordWrap(true);
  status_->setTextFormat(Qt::RichText);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  summary_ = new QLabel(this);
  summary_->setObjectName(QStringLiteral("calibrationSummary"));
  summary_->setWordWrap(true);
  summary_->setTextFormat(Qt::RichText);
  plots_ = new CalibrationPlots(this);
  exportThresholds_ = new QPushButton(tr("Export thresholds…"), this);
  exportThresholds_->setObjectName(QStringLiteral("exportThresholdsButton"));
  exportThresholds_->setToolTip(tr("Save the chosen λ with the settings it holds for (JSON), for the calm "
                                   "command-line tool or a deployment."));
  exportReport_ = new QPushButton(tr("Export report…"), this);
  exportReport_->setObjectName(QStringLiteral("exportReportButton"));
  exportReport_->setToolTip(tr("Save every grid point (JSON) and these plots (PNG)."));
  exportThresholds_->setEnabled(false);
  exportReport_->setEnabled(false);
  openThresholds_ = new QPushButton(tr("Open thresholds…"), this);
  openThresholds_->setObjectName(QStringLiteral("openThresholdsButton"));
  openThresholds_->setToolTip(tr("Read a thresholds file (from this tab or from calm calibrate) and put its λ, "
                                 "τ, measure, gate, mode and exit checks into the controls."));
  openLosses_ = new QPushButton(tr("Open losses…"), this);
  openLosses_->setObjectName(QStringLiteral("openLossesButton"));
  openLosses_->setToolTip(tr("Read per-example losses (or outputs) at every λ computed by another engine or "
                             "by calm calibrate --write-losses (JSONL, docs/losses-format.md) for the loaded "
                             "model, and calibrate from them without decoding anything."));

  auto* row1 = new QHBoxLayout;
  row1->addWidget(new QLabel(tr("Set:"), this));
  row1->addWidget(sets_, 1);
  row1->addWidget(chooseFile_);
  row1->addSpacing(12);
  row1->addWidget(new QLabel(tr("Examples:"), this));
  row1->addWidget(examples_);
  row1->addWidget(new QLabel(tr("λ step:"), this));
  row1->addWidget(step_);
  row1->addSpacing(12);
  row1->addWidget(run_);
  row1->addWidget(cancel_);
  auto* row2 = new QHBoxLayout;
  row2->addWidget(progress_, 1);
  row2->addWidget(openLosses_);
  row2->addWidget(openThresholds_);
  row2->addWidget(exportThresholds_);
  row2->addWidget(exportReport_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 8, 8, 8);
  layout->setSpacing(6);
  layout->addLayout(row1);
  layout->addLayout(row2);
  layout->addWidget(status_);
  layout->addWidget(summary_);
  layout->addWidget(plots_, 1);

  connect(run_, &QPushButton::clicked, this, [this] { emit runRequested(currentSet(), maxExamples(), gridStep()); });
  connect(cancel_, &QPushButton::clicked, this, &CalibrationPanel::cancelRequested);
  connect(chooseFile_, &QPushButton::clicked, this, &CalibrationPanel::chooseFileRequested);
  connect(exportThresholds_, &QPushButton::clicked, this, &CalibrationPanel::exportThresholdsRequested);
  connect(exportReport_, &QPushButton::clicked, this, &CalibrationPanel::exportReportRequested);
  connect(openThresholds_, &QPushButton::clicked, this, &CalibrationPanel::openThresholdsRequested);
  connect(openLosses_, &QPushButton::clicked, this, &CalibrationPanel::openLossesRequested);
  showResult(nullptr, std::nullopt, DecodeControls(), QString(), 0);
}

void CalibrationPanel::setBundledSets(const QList<QPair<QString, QString>>& sets) {
  sets_->clear();
  for (const auto& [name, path] : sets) sets_->addItem(name, path);
  if (sets.isEmpty()) sets_->addItem(tr("(no bundled set: choose a JSONL file)"), QString());
}

void CalibrationPanel::addSet(const QString& path) {
  for (int i = 0; i < sets_->count(); ++i)
    if (sets_->itemData(i).toString() == path) {
      sets_->setCurrentIndex(i);
      return;
    }
  sets_->addItem(QFileInfo(path).fileName(), path);
  sets_->setItemData(sets_->count() - 1, path, Qt::ToolTipRole);
  sets_->setCurrentIndex(sets_->count() - 1);
}

QString CalibrationPanel::currentSet() const { return sets_->currentData().toString(); }
int CalibrationPanel::maxExamples() const { return examples_->value(); }
void CalibrationPanel::setMaxExamples(int count) { examples_->setValue(count); }
double CalibrationPanel::gridStep() const { return step_->currentData().toDouble(); }

void CalibrationPanel::setRunning(bool running) {
  run_->setEnabled(!running);
  cancel_->setEnabled(running);
  if (!running && progress_->maximum() <= 1) progress_->setRange(0, 1);
}

void CalibrationPanel::showStarted(int examples) {
  progress_->setRange(0, 0);  // busy until the first unit reports
  status_->setText(tr("Calibrating on %1 examples…").arg(examples));
}

void CalibrationPanel::showProgress(int done, int total) {
  progress_->setRange(0, total);
  progress_->setValue(done);
  progress_->setFormat(tr("%v of %m examples (%p%)"));
}

void CalibrationPanel::showMessage(const QString& html) {
  status_->setText(html);
  if (progress_->maximum() == 0) progress_->setRange(0, 1);
}

void CalibrationPanel::showResult(const CalibrationData* data, const std::optional<calm::CalibrationResult>& result,
                                  const DecodeControls& controls, const QString& mismatch, int layers) {
  exportThresholds_->setEnabled(data && result);
  exportReport_->setEnabled(data && result);
  if (data && !result && !mismatch.isEmpty()) {
    summary_->setText(tr("<span style='color:#b42318'>%1</span>").arg(mismatch.toHtmlEscaped()));
    plots_->clear(tr("These outputs cannot be scored this way."));
    return;
  }
  if (!data || !result) {
    summary_->setText(tr("<span style='color:#666'>Calibration walks λ down from 1 and keeps the last λ the fixed "
                         "sequence of tests passed. Learn then Test: with probability at least 1 − ε over the "
                         "draw of the calibration set, its expected loss on new inputs is at most δ. Conformal "
                         "risk control: its expected loss, averaged over the calibration draw too, is at most δ "
                         "(no ε). Both are statements about the average, not about each output. Choose a set "
                         "and press Calibrate; afterwards moving δ or ε updates everything at once, without "
                         "running the model again.</span>"));
    plots_->clear(tr("Run a calibration to see these plots."));
    return;
  }
  const calm::CalibrationResult& r = *result;
  const bool ltt = calm::is_learn_then_test(r.method);
  const QString asked = ltt ? tr("δ = %1, ε = %2 (Learn then Test, %3)")
                                  .arg(r.delta, 0, 'g', 3)
                                  .arg(r.epsilon, 0, 'g', 3)
                                  .arg(QString::fromUtf8(calm::calibration_method_name(r.method)))
                            : tr("δ = %1 (conformal risk control)").arg(r.delta, 0, 'g', 3);
  QString text;
  if (r.chosen_index) {
    const auto& g = r.points[*r.chosen_index];
    text = tr("<b>Chosen λ = %1</b> for %2: calibration mean loss %3, about <b>%4 of %5 layers</b> per token.")
               .arg(r.lambda, 0, 'f', 3)
               .arg(asked)
               .arg(g.mean_loss, 0, 'f', 3)
               .arg(g.mean_layers, 0, 'f', 2)
               .arg(layers);
  } else {
    text = tr("<b>No λ below 1 passed</b> for %1: with this many examples the guarantee only holds "
              "for the full model. %2")
               .arg(asked, ltt ? tr("Raise δ or ε, or calibrate on more examples.")
                               : tr("Raise δ, or calibrate on more examples (even λ = 1 needs 1/(n + 1) ≤ δ)."));
  }
  // What the method promises, in one sentence (calm::method_guarantee).
  text += tr("<br><span style='color:#444'>%1</span>")
              .arg(QString::fromStdString(calm::method_guarantee(r.method)).toHtmlEscaped());
  if (!ltt) {
    if (r.monotonicity.holds())
      text += tr("<br><span style='color:#444'>Monotone: no calibration example's loss fell as λ fell.</span>");
    else
      text += tr("<br><span style='color:#b54708'><b>Not monotone</b>: %1 of %2 calibration examples have a loss "
                 "that falls as λ falls (%3% of adjacent grid pairs), which conformal risk control assumes never "
                 "happens; the bound was applied to their monotone envelope, which is never below the loss.</span>")
                  .arg(r.monotonicity.examples_broken)
                  .arg(r.examples)
                  .arg(100.0 * r.monotonicity.pairs_broken, 0, 'f', 1);
  }
  const QString source = data->imported ? tr("imported from %1 (no decoding here)")
                                              .arg(QFileInfo(data->dataset).fileName().toHtmlEscaped())
                                        : tr("of %1 · run in %2 s")
                                              .arg(QFileInfo(data->dataset).fileName().toHtmlEscaped())
                                              .arg(data->seconds, 0, 'f', 1);
  text += tr("<br><span style='color:#666'>%1 examples %2 · %3 consistency, %4 · %5 measure, τ = %6; "
             "changing consistency, metric, δ or ε re-scores these %7 at once</span>")
              .arg(r.examples)
              .arg(source)
              .arg(QString::fromUtf8(calm::consistency_name(controls.consistency)))
              .arg(QString::fromUtf8(calm::metric_name(controls.metric)))
              .arg(QString::fromUtf8(calm::measure_name(data->settings().measure)))
              .arg(data->settings().tau, 0, 'g', 3)
              .arg(data->imported && data->imported->kind == calm::ImportedLosses::Kind::Losses ? tr("losses")
                                                                                                 : tr("outputs"));
  if (!data->certifies(controls))
    text += tr("<br><span style='color:#b54708'><b>Exploratory, not certified</b>: δ, ε, the consistency, metric "
               "or method were changed after these results were shown, and a choice made by looking at the "
               "calibration losses voids the guarantee. An exported thresholds file says “exploratory”. To "
               "certify, fix them first, then calibrate (ideally on examples you have not looked at).</span>");
  if (!mismatch.isEmpty())
    text += tr("<br><span style='color:#b42318'>This calibration does not set λ now (%1). Calibrate again, or "
               "set the controls back.</span>")
                .arg(mismatch.toHtmlEscaped());
  summary_->setText(text);
  plots_->showResult(r, layers);
}

}  // namespace calm::ui
