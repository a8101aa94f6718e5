#include "ControlPanel.h"

#include <QButtonGroup>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QRadioButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include "SliderSpin.h"

namespace calm::ui {

namespace {

QLabel* rowLabel(const QString& text, const QString& tip) {
  auto* label = new QLabel(text);
  label->setToolTip(tip);
  return label;
}

void selectData(QComboBox* box, int value) {
  const int index = box->findData(value);
  if (index >= 0) box->setCurrentIndex(index);
}

}  // namespace

ControlPanel::ControlPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("controlPanel"));

  // ---- the exit rule
  measure_ = new QComboBox;
  measure_->setObjectName(QStringLiteral("measureBox"));
  measure_->addItem(tr("Softmax gap (top-1 − top-2)"), int(calm::Measure::Softmax));
  measure_->addItem(tr("Softmax top-1 probability"), int(calm::Measure::SoftmaxMax));
  measure_->addItem(tr("Hidden-state saturation"), int(calm::Measure::State));
  measure_->addItem(tr("Early-exit classifier"), int(calm::Measure::Classifier));
  const QString measureTip =
      tr("<p>How the model judges, after each decoder layer, whether it is sure enough to stop.</p>"
         "<ul><li><b>Softmax gap</b>: probability of the best next token minus that of the runner-up "
         "(the paper's choice).</li>"
         "<li><b>Softmax top-1</b>: the best token's probability alone.</li>"
         "<li><b>Hidden-state saturation</b>: how little the layer changed the hidden state "
         "(cosine with the previous layer's); cheap, no vocabulary projection.</li>"
         "<li><b>Early-exit classifier</b>: a small trained head that predicts whether this layer already "
         "agrees with the last one; cheapest. Only models trained with one offer it.</li></ul>");
  measure_->setToolTip(measureTip);

  lambda_ = new SliderSpin(0.0, 1.0, 0.01, 2);
  lambda_->setObjectName(QStringLiteral("lambdaControl"));
  const QString lambdaTip =
      tr("<p><b>λ (lambda)</b>: the confidence a token needs to leave the decoder early.</p>"
         "<p>1 means never leave early: exactly the full model. Lower values let more tokens leave after "
         "fewer layers: faster, but the text may drift from what the full model would write.</p>");
  lambda_->setToolTip(lambdaTip);
  fromCalibration_ = new QRadioButton(tr("From calibration"));
  fromCalibration_->setObjectName(QStringLiteral("lambdaFromCalibration"));
  fromCalibration_->setToolTip(tr("Use the most aggressive λ that the calibration showed to be safe for your δ "
                                  "and ε (Learn then Test). Run a calibration in the Calibration tab first."));
  byHand_ = new QRadioButton(tr("By hand"));
  byHand_->setObjectName(QStringLiteral("lambdaByHand"));
  byHand_->setToolTip(tr("Set λ yourself with the slider: no guarantee, good for exploring."));
  auto* lambdaMode = new QButtonGroup(this);
  lambdaMode->addButton(fromCalibration_);
  lambdaMode->addButton(byHand_);
  auto* lambdaModeRow = new QHBoxLayout;
  lambdaModeRow->setContentsMargins(0, 0, 0, 0);
  lambdaModeRow->addWidget(fromCalibration_);
  lambdaModeRow->addWidget(byHand_);
  lambdaModeRow->addStretch(1);
  lambdaInForce_ = new QLabel;
  lambdaInForce_->setObjectName(QStringLiteral("lambdaInForce"));
  lambdaInForce_->setWordWrap(true);
  lambdaInForce_->setTextFormat(Qt::RichText);

  tau_ = new SliderSpin(0.0, 10.0, 0.1, 1);
  tau_->setObjectName(QStringLiteral("tauControl"));
  const QString tauTip =
      tr("<p><b>τ (tau)</b>: how fast the threshold relaxes along the output,<br>"
         "λ<sub>t</sub> = 0.9 λ + 0.1 · exp(−τ t / N).</p>"
         "<p>The first tokens, which steer everything after them, face a stricter threshold. "
         "τ = 0 keeps it nearly flat; the paper used τ = 4.</p>");
  tau_->setToolTip(tauTip);

  auto* rule = new QGroupBox(tr("Exit rule"));
  auto* ruleForm = new QFormLayout(rule);
  ruleForm->addRow(rowLabel(tr("Measure"), measureTip), measure_);
  ruleForm->addRow(rowLabel(tr("λ"), lambdaTip), lambdaModeRow);
  ruleForm->addRow(QString(), lambda_);
  ruleForm->addRow(QString(), lambdaInForce_);
  ruleForm->addRow(rowLabel(tr("τ"), tauTip), tau_);

  // ---- the guarantee
  consistency_ = new QComboBox;
  consistency_->setObjectName(QStringLiteral("consistencyBox"));
  consistency_->addItem(tr("Textual (match the full model)"), int(calm::Consistency::Textual));
  consistency_->addItem(tr("Risk (match the references)"), int(calm::Consistency::Risk));
  const QString consistencyTip =
      tr("<p>What the calibration guarantees.</p><ul>"
         "<li><b>Textual</b>: CALM's text stays within δ of what the full model writes. Needs no references.</li>"
         "<li><b>Risk</b>: CALM loses at most δ quality against the reference answers, beyond the full "
         "model's own mistakes.</li></ul>");
  consistency_->setToolTip(consistencyTip);
  metric_ = new QComboBox;
  metric_->setObjectName(QStringLiteral("metricBox"));
  metric_->addItem(tr("ROUGE-L"), int(calm::Metric::RougeL));
  metric_->addItem(tr("BLEU"), int(calm::Metric::Bleu));
  metric_->addItem(tr("Token F1"), int(calm::Metric::F1));
  metric_->addItem(tr("Token agreement"), int(calm::Metric::Token));
  metric_->addItem(tr("Exact match"), int(calm::Metric::Exact));
  const QString metricTip =
      tr("<p>How two texts are compared (a similarity between 0 and 1; the loss is 1 minus it).</p><ul>"
         "<li><b>ROUGE-L</b>: longest common subsequence of tokens.</li>"
         "<li><b>BLEU</b>: shared 1- to 4-token phrases.</li>"
         "<li><b>Token F1</b>: overlap of the bags of tokens.</li>"
         "<li><b>Token agreement</b>: same token at the same position.</li>"
         "<li><b>Exact match</b>: identical or not.</li></ul>");
  metric_->setToolTip(metricTip);
  delta_ = new SliderSpin(0.01, 0.5, 0.01, 2);
  delta_->setObjectName(QStringLiteral("deltaControl"));
  const QString deltaTip =
      tr("<p><b>δ (delta)</b>: the tolerance. The largest average loss you accept: distance from the full "
         "model (textual) or quality lost against the references (risk).</p>"
         "<p>Smaller δ: safer and slower. The paper used 0.1 and 0.25 (textual), 0.02 and 0.05 (risk).</p>");
  delta_->setToolTip(deltaTip);
  epsilon_ = new SliderSpin(0.01, 0.5, 0.01, 2);
  epsilon_->setObjectName(QStringLiteral("epsilonControl"));
  const QString epsilonTip =
      tr("<p><b>ε (epsilon)</b>: the risk that the guarantee fails, over the luck of which examples landed "
         "in the calibration set.</p><p>0.05 means the chosen λ keeps the average loss within δ with 95% "
         "confidence.</p>");
  epsilon_->setToolTip(epsilonTip);

  pvalue_ = new QComboBox;
  pvalue_->setObjectName(QStringLiteral("pvalueBox"));
  pvalue_->addItem(tr("Hoeffding–Bentkus"), int(calm::PValueMethod::HoeffdingBentkus));
  pvalue_->addItem(tr("Bentkus"), int(calm::PValueMethod::Bentkus));
  pvalue_->addItem(tr("Hoeffding"), int(calm::PValueMethod::Hoeffding));
  const QString pvalueTip =
      tr("<p>The concentration bound that turns a mean loss on n examples into a p-value for "
         "“the true loss is above δ”. Hoeffding–Bentkus (the paper's) is the smaller "
         "of the other two at every point, so it passes the most λ.</p>");
  pvalue_->setToolTip(pvalueTip);

  auto* guarantee = new QGroupBox(tr("Guarantee (used by calibration)"));
  auto* guaranteeForm = new QFormLayout(guarantee);
  guaranteeForm->addRow(rowLabel(tr("Consistency"), consistencyTip), consistency_);
  guaranteeForm->addRow(rowLabel(tr("Metric"), metricTip), metric_);
  guaranteeForm->addRow(rowLabel(tr("δ"), deltaTip), delta_);
  guaranteeForm->addRow(rowLabel(tr("ε"), epsilonTip), epsilon_);
  guaranteeForm->addRow(rowLabel(tr("p-value"), pvalueTip), pvalue_);

  // ---- generation
  maxTokens_ = new QSpinBox;
  maxTokens_->setObjectName(QStringLiteral("maxTokensSpin"));
  maxTokens_->setRange(1, 512);
  maxTokens_->setKeyboardTracking(false);
  const QString maxTip = tr("The most tokens to generate. It is also N in the threshold schedule.");
  maxTokens_->setToolTip(maxTip);
  kvMode_ = new QComboBox;
  kvMode_->setObjectName(QStringLiteral("kvModeBox"));
  kvMode_->addItem(tr("Propagate (the paper's; fast)"), int(calm::KvMode::Propagate));
  kvMode_->addItem(tr("Exact (analysis; no speedup)"), int(calm::KvMode::Exact));
  const QString kvTip =
      tr("<p>Later tokens attend to earlier ones at every layer, so the layers a token skipped still need "
         "its keys and values.</p><ul>"
         "<li><b>Propagate</b>: copy the exit state into the skipped layers and let each compute its own "
         "keys and values from it (cheap; the paper's choice).</li>"
         "<li><b>Exact</b>: run the skipped layers anyway. Shows what propagation costs in quality; "
         "no speedup.</li></ul>");
  kvMode_->setToolTip(kvTip);
  auto* generation = new QGroupBox(tr("Generation"));
  auto* generationForm = new QFormLayout(generation);
  generationForm->addRow(rowLabel(tr("Max new tokens"), maxTip), maxTokens_);
  generationForm->addRow(rowLabel(tr("K/V of skipped layers"), kvTip), kvMode_);

  for (QFormLayout* form : {ruleForm, guaranteeForm, generationForm}) {
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->setLabelAlignment(Qt::AlignRight | Qt::AlignVCenter);
    form->setHorizontalSpacing(10);
    form->setVerticalSpacing(7);
  }
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(10);
  layout->addWidget(rule);
  layout->addWidget(guarantee);
  layout->addWidget(generation);
  layout->addStretch(1);

  setControls(shown_);
  for (QComboBox* box : {measure_, consistency_, metric_, kvMode_, pvalue_})
    connect(box, &QComboBox::currentIndexChanged, this, &ControlPanel::emitEdited);
  for (SliderSpin* s : {lambda_, tau_, delta_, epsilon_}) connect(s, &SliderSpin::valueChanged, this, &ControlPanel::emitEdited);
  connect(fromCalibration_, &QRadioButton::toggled, this, &ControlPanel::emitEdited);
  connect(maxTokens_, &QSpinBox::valueChanged, this, &ControlPanel::emitEdited);
}

void ControlPanel::setControls(const DecodeControls& c) {
  const QSignalBlocker b1(measure_), b2(consistency_), b3(metric_), b4(kvMode_), b5(fromCalibration_),
      b6(byHand_), b7(maxTokens_), b8(pvalue_);
  selectData(pvalue_, int(c.pvalueMethod));
  selectData(measure_, int(c.measure));
  selectData(consistency_, int(c.consistency));
  selectData(metric_, int(c.metric));
  selectData(kvMode_, int(c.kvMode));
  fromCalibration_->setChecked(c.lambdaFromCalibration);
  byHand_->setChecked(!c.lambdaFromCalibration);
  lambda_->setValue(c.manualLambda);
  tau_->setValue(c.tau);
  delta_->setValue(c.delta);
  epsilon_->setValue(c.epsilon);
  maxTokens_->setValue(c.maxNewTokens);
  lambda_->setEnabled(!c.lambdaFromCalibration);
  shown_ = c;
}

DecodeControls ControlPanel::controls() const {
  DecodeControls c = shown_;
  c.measure = static_cast<calm::Measure>(measure_->currentData().toInt());
  c.consistency = static_cast<calm::Consistency>(consistency_->currentData().toInt());
  c.metric = static_cast<calm::Metric>(metric_->currentData().toInt());
  c.kvMode = static_cast<calm::KvMode>(kvMode_->currentData().toInt());
  c.pvalueMethod = static_cast<calm::PValueMethod>(pvalue_->currentData().toInt());
  c.lambdaFromCalibration = fromCalibration_->isChecked();
  c.manualLambda = lambda_->value();
  c.tau = tau_->value();
  c.delta = delta_->value();
  c.epsilon = epsilon_->value();
  c.maxNewTokens = maxTokens_->value();
  return c;
}

void ControlPanel::emitEdited() {
  const DecodeControls c = controls();
  lambda_->setEnabled(!c.lambdaFromCalibration);
  if (c == shown_) return;
  shown_ = c;
  emit controlsEdited(c);
}

void ControlPanel::setModelLimits(bool hasClassifier, int maxNewTokens) {
  auto* model = qobject_cast<QStandardItemModel*>(measure_->model());
  const int index = measure_->findData(int(calm::Measure::Classifier));
  if (model && index >= 0) {
    QStandardItem* item = model->item(index);
    item->setEnabled(hasClassifier);
    item->setToolTip(hasClassifier ? QString() : tr("This model has no early-exit classifier head."));
  }
  const int before = maxTokens_->value();
  {
    const QSignalBlocker block(maxTokens_);
    maxTokens_->setMaximum(std::max(1, maxNewTokens));
  }
  if (maxTokens_->value() != before) emitEdited();  // clamped to what the model can hold
}

void ControlPanel::setLambdaInForce(double lambda, const QString& explanation, bool calibrated) {
  lambdaInForce_->setText(tr("In force: <b>λ = %1</b><br><span style='color:%2'>%3</span>")
                              .arg(lambda, 0, 'f', 3)
                              .arg(calibrated ? QStringLiteral("#1a7f37") : QStringLiteral("#777"))
                              .arg(explanation.toHtmlEscaped()));
}

}  // namespace calm::ui
