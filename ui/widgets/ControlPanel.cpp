#include "widgets/ControlPanel.h"

#include <cmath>
#include <functional>

#include <QButtonGroup>
#include <QString>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QRadioButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include "widgets/SliderSpin.h"

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

// A spin box shows `decimals` places; a value set from elsewhere (a thresholds
// file's lambda = 0.725) stays exact until the user moves the control.
double unlessMoved(double exact, double shown, int decimals) {
  const double displayed = QString::number(exact, 'f', decimals).toDouble();  // as QDoubleSpinBox rounds
  return std::abs(shown - displayed) < 1e-9 ? exact : shown;
}

// The decoding mode combo: CALM with a K/V mode, or verify mode.
enum ModeCode { kModePropagate = 0, kModeCatchUp = 1, kModeExact = 2, kModeVerify = 3 };

int modeCode(const DecodeControls& c) {
  if (c.verify) return kModeVerify;
  switch (c.kv_mode) {
    case calm::KvMode::CatchUp: return kModeCatchUp;
    case calm::KvMode::Exact: return kModeExact;
    case calm::KvMode::Propagate: break;
  }
  return kModePropagate;
}

void applyModeCode(int code, DecodeControls& c) {
  c.verify = code == kModeVerify;
  c.kv_mode = code == kModeCatchUp ? calm::KvMode::CatchUp
             : code == kModeExact ? calm::KvMode::Exact
                                  : calm::KvMode::Propagate;
}

// A control bound to one field of the controls, both ways.
template <class Enum, class Owner>  // Owner: DecodeControls or its ExitRule
ControlPanel::Binding comboBinding(QComboBox* box, Enum Owner::*field) {
  return {[=](const DecodeControls& c) { selectData(box, int(c.*field)); },
          [=](DecodeControls& c, const DecodeControls&) { c.*field = static_cast<Enum>(box->currentData().toInt()); }};
}

ControlPanel::Binding spinBinding(QSpinBox* spin, int DecodeControls::*field) {
  return {[=](const DecodeControls& c) { spin->setValue(c.*field); },
          [=](DecodeControls& c, const DecodeControls&) { c.*field = spin->value(); }};
}

template <class Box>
ControlPanel::Binding decimalBinding(Box* box, QDoubleSpinBox* shownBy, double DecodeControls::*field) {
  return {[=](const DecodeControls& c) { box->setValue(c.*field); },
          [=](DecodeControls& c, const DecodeControls& shown) {
            c.*field = unlessMoved(shown.*field, box->value(), shownBy->decimals());
          }};
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

  gate_ = new QComboBox;
  gate_->setObjectName(QStringLiteral("gateBox"));
  gate_->addItem(tr("None"), int(calm::Gate::None));
  gate_->addItem(tr("State (cosine)"), int(calm::Gate::State));
  gate_->addItem(tr("Classifier"), int(calm::Gate::Classifier));
  gateThreshold_ = new QDoubleSpinBox;
  gateThreshold_->setObjectName(QStringLiteral("gateThresholdSpin"));
  gateThreshold_->setRange(-1.0, 1.0);
  gateThreshold_->setSingleStep(0.01);
  gateThreshold_->setDecimals(2);
  gateThreshold_->setKeyboardTracking(false);
  const QString gateTip =
      tr("<p>A cheap test a softmax measure must pass before it pays for the vocabulary projection: "
         "most layers stop at the gate, so the expensive check runs only where an exit is plausible.</p><ul>"
         "<li><b>None</b>: check the softmax at every allowed layer.</li>"
         "<li><b>State</b>: the cosine of the hidden state with the previous layer's must reach the gate "
         "threshold.</li>"
         "<li><b>Classifier</b>: the early-exit classifier's probability must reach it (models with a "
         "classifier head only).</li></ul><p>Ignored by the state and classifier measures, which are cheap "
         "already.</p>");
  gate_->setToolTip(gateTip);
  gate_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  gate_->setMinimumContentsLength(8);
  gateThreshold_->setToolTip(tr("The gate threshold: the state cosine or classifier probability a layer "
                                "needs before the softmax measure is computed (default 0.9)."));
  // As wide as the λ and τ boxes above it, so the numbers line up and fit.
  gateThreshold_->setMinimumWidth(gateThreshold_->fontMetrics().horizontalAdvance(QStringLiteral("0.0000")) + 36);
  auto* gateRow = new QHBoxLayout;
  gateRow->setContentsMargins(0, 0, 0, 0);
  gateRow->setSpacing(6);
  gateRow->addWidget(gate_, 1);
  gateRow->addWidget(new QLabel(tr("at ≥")));
  gateRow->addWidget(gateThreshold_);

  firstExit_ = new QSpinBox;
  firstExit_->setObjectName(QStringLiteral("firstExitSpin"));
  firstExit_->setRange(1, 1024);
  firstExit_->setKeyboardTracking(false);
  checkInterval_ = new QSpinBox;
  checkInterval_->setObjectName(QStringLiteral("checkIntervalSpin"));
  checkInterval_->setRange(1, 1024);
  checkInterval_->setKeyboardTracking(false);
  const QString checksTip = tr("<p>Where a token may leave: the first decoder layer allowed to exit, and "
                               "every how many layers after it the confidence is checked. Fewer checks cost "
                               "less but exit later.</p>");
  firstExit_->setToolTip(checksTip);
  checkInterval_->setToolTip(checksTip);
  auto* checksRow = new QHBoxLayout;
  checksRow->setContentsMargins(0, 0, 0, 0);
  checksRow->setSpacing(6);
  checksRow->addWidget(new QLabel(tr("from layer")));
  checksRow->addWidget(firstExit_);
  checksRow->addWidget(new QLabel(tr("every")));
  checksRow->addWidget(checkInterval_);
  checksRow->addStretch(1);

  auto* rule = new QGroupBox(tr("Exit rule"));
  auto* ruleForm = new QFormLayout(rule);
  ruleForm->addRow(rowLabel(tr("Measure"), measureTip), measure_);
  ruleForm->addRow(rowLabel(tr("λ"), lambdaTip), lambdaModeRow);
  ruleForm->addRow(QString(), lambda_);
  ruleForm->addRow(QString(), lambdaInForce_);
  ruleForm->addRow(rowLabel(tr("τ"), tauTip), tau_);
  ruleForm->addRow(rowLabel(tr("Gate"), gateTip), gateRow);
  ruleForm->addRow(rowLabel(tr("Exit checks"), checksTip), checksRow);

  // ---- the guarantee
  consistency_ = new QComboBox;
  consistency_->setObjectName(QStringLiteral("consistencyBox"));
  consistency_->addItem(tr("Textual (match the full model)"), int(calm::Consistency::Textual));
  consistency_->addItem(tr("Risk (match the references)"), int(calm::Consistency::Risk));
  const QString consistencyTip =
      tr("<p>What the calibration guarantees.</p><ul>"
         "<li><b>Textual</b>: CALM's expected distance from what the full model writes is at most δ. "
         "Needs no references.</li>"
         "<li><b>Risk</b>: CALM's expected loss of quality against the reference answers, beyond the full "
         "model's own mistakes, is at most δ.</li></ul>"
         "<p>Both hold with probability 1 − ε over the draw of the calibration set, for the average over "
         "new inputs, not for each output.</p>");
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
      tr("<p><b>δ (delta)</b>: the tolerance. The largest expected loss over new inputs you accept: "
         "distance from the full model (textual) or quality lost against the references (risk).</p>"
         "<p>Smaller δ: safer and slower. The paper used 0.1 and 0.25 (textual), 0.02 and 0.05 (risk).</p>");
  delta_->setToolTip(deltaTip);
  epsilon_ = new SliderSpin(0.01, 0.5, 0.01, 2);
  epsilon_->setObjectName(QStringLiteral("epsilonControl"));
  const QString epsilonTip =
      tr("<p><b>ε (epsilon)</b>: the risk that the guarantee fails, over the luck of which examples landed "
         "in the calibration set.</p><p>0.05: for at least 95% of calibration draws, the chosen λ's "
         "expected loss over new inputs is at most δ.</p>");
  epsilon_->setToolTip(epsilonTip);

  method_ = new QComboBox;
  method_->setObjectName(QStringLiteral("methodBox"));
  method_->addItem(tr("LTT: Hoeffding–Bentkus"), int(calm::CalibrationMethod::HoeffdingBentkus));
  method_->addItem(tr("LTT: Bentkus"), int(calm::CalibrationMethod::Bentkus));
  method_->addItem(tr("LTT: Hoeffding"), int(calm::CalibrationMethod::Hoeffding));
  method_->addItem(tr("LTT: WSR (betting)"), int(calm::CalibrationMethod::Wsr));
  method_->addItem(tr("Conformal risk control"), int(calm::CalibrationMethod::Crc));
  // Each method's guarantee in one sentence, the same words as calm and the docs.
  for (int i = 0; i < method_->count(); ++i)
    method_->setItemData(i,
                         QString::fromStdString(calm::method_guarantee(
                             static_cast<calm::CalibrationMethod>(method_->itemData(i).toInt()))),
                         Qt::ToolTipRole);
  const QString methodTip =
      tr("<p>How λ is chosen, and what that promises.</p><ul>"
         "<li><b>Learn then Test</b> (LTT) turns the mean loss on n examples into a p-value for “the expected "
         "loss is above δ” and walks the grid down while it stays below ε. Hoeffding–Bentkus (the paper's) is "
         "the smaller of Hoeffding and Bentkus; WSR (Waudby-Smith–Ramdas betting, Jazbec et al. 2024) adapts "
         "to the spread of the losses and often certifies a lower λ. %1</li>"
         "<li><b>Conformal risk control</b> needs no ε. %2</li></ul>")
          .arg(QString::fromStdString(calm::method_guarantee(calm::CalibrationMethod::HoeffdingBentkus)).toHtmlEscaped(),
               QString::fromStdString(calm::method_guarantee(calm::CalibrationMethod::Crc)).toHtmlEscaped());
  method_->setToolTip(methodTip);

  auto* guarantee = new QGroupBox(tr("Guarantee (used by calibration)"));
  auto* guaranteeForm = new QFormLayout(guarantee);
  guaranteeForm->addRow(rowLabel(tr("Consistency"), consistencyTip), consistency_);
  guaranteeForm->addRow(rowLabel(tr("Metric"), metricTip), metric_);
  guaranteeForm->addRow(rowLabel(tr("δ"), deltaTip), delta_);
  guaranteeForm->addRow(rowLabel(tr("ε"), epsilonTip), epsilon_);
  guaranteeForm->addRow(rowLabel(tr("Method"), methodTip), method_);

  // ---- generation
  maxTokens_ = new QSpinBox;
  maxTokens_->setObjectName(QStringLiteral("maxTokensSpin"));
  maxTokens_->setRange(1, 512);
  maxTokens_->setKeyboardTracking(false);
  const QString maxTip = tr("The most tokens to generate. It is also N in the threshold schedule.");
  maxTokens_->setToolTip(maxTip);
  mode_ = new QComboBox;
  mode_->setObjectName(QStringLiteral("modeBox"));
  mode_->addItem(tr("CALM (propagate)"), kModePropagate);
  mode_->addItem(tr("CALM (exact cache, catch-up)"), kModeCatchUp);
  mode_->addItem(tr("CALM (exact cache, at once)"), kModeExact);
  mode_->addItem(tr("Verify (lossless)"), kModeVerify);
  const QString modeTip =
      tr("<p>Later tokens attend to earlier ones at every layer, so the layers a token skipped still need "
         "its keys and values.</p><ul>"
         "<li><b>CALM (propagate)</b>: copy the exit state into the skipped layers and let each compute its "
         "own keys and values from it (cheap; the paper's choice).</li>"
         "<li><b>CALM (exact cache, catch-up)</b>: run the skipped layers for real, later, batched with the "
         "next token that goes deeper. Exact keys and values, much of the speedup kept.</li>"
         "<li><b>CALM (exact cache, at once)</b>: run the skipped layers at once. The same output as "
         "catch-up; for analysis, no speedup.</li>"
         "<li><b>Verify (lossless)</b>: draft a few tokens with early exits, then check them all in one "
         "pass of the full model and keep the ones it agrees with, plus its own token at the first "
         "disagreement. The output is exactly the full model's (greedy); the speedup comes from the "
         "accepted drafts. No per-layer trace is recorded.</li></ul>");
  mode_->setToolTip(modeTip);
  mode_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  mode_->setMinimumContentsLength(14);
  draft_ = new QSpinBox;
  draft_->setObjectName(QStringLiteral("draftSpin"));
  draft_->setRange(1, 16);
  draft_->setKeyboardTracking(false);
  const QString draftTip = tr("Verify mode: how many tokens are drafted with early exits before the full "
                              "model checks them in one pass. Longer drafts save more passes when most are "
                              "accepted, and waste more work when one is rejected early.");
  draft_->setToolTip(draftTip);
  repetitionPenalty_ = new QDoubleSpinBox;
  repetitionPenalty_->setObjectName(QStringLiteral("repetitionPenaltySpin"));
  repetitionPenalty_->setRange(0.1, 10.0);
  repetitionPenalty_->setSingleStep(0.05);
  repetitionPenalty_->setDecimals(2);
  repetitionPenalty_->setKeyboardTracking(false);
  const QString repetitionTip =
      tr("<p>Against the loops small models fall into (“the son of the son of the son of…”): every token "
         "already in the text, the prompt included, gets its score divided by this number (multiplied when "
         "negative), so repeating it is less likely. 1 is off; around 1.2 is usual.</p>"
         "<p>It changes what every layer would write, so a calibration holds only for the value it ran "
         "with: the bundled ones were made without it.</p>");
  repetitionPenalty_->setToolTip(repetitionTip);
  noRepeatNgram_ = new QSpinBox;
  noRepeatNgram_->setObjectName(QStringLiteral("noRepeatNgramSpin"));
  noRepeatNgram_->setRange(0, 10);
  noRepeatNgram_->setSpecialValueText(tr("off"));
  noRepeatNgram_->setKeyboardTracking(false);
  const QString ngramTip =
      tr("<p>Forbids any token that would repeat a run of this many tokens already in the text (3: no "
         "three-token phrase twice). Off at 0.</p>"
         "<p>It changes what every layer would write, so a calibration holds only for the value it ran "
         "with: the bundled ones were made without it.</p>");
  noRepeatNgram_->setToolTip(ngramTip);
  auto* generation = new QGroupBox(tr("Generation"));
  auto* generationForm = new QFormLayout(generation);
  generationForm->addRow(rowLabel(tr("Max new tokens"), maxTip), maxTokens_);
  generationForm->addRow(rowLabel(tr("Mode"), modeTip), mode_);
  generationForm->addRow(rowLabel(tr("Draft tokens"), draftTip), draft_);
  generationForm->addRow(rowLabel(tr("Repetition penalty"), repetitionTip), repetitionPenalty_);
  generationForm->addRow(rowLabel(tr("No repeated n-grams"), ngramTip), noRepeatNgram_);

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

  // Every control and the field it shows: setControls and controls() walk this one list.
  bindings_ = {
      comboBinding(measure_, &DecodeControls::measure),
      comboBinding(consistency_, &DecodeControls::consistency),
      comboBinding(metric_, &DecodeControls::metric),
      comboBinding(method_, &DecodeControls::method),
      comboBinding(gate_, &DecodeControls::gate),
      decimalBinding(gateThreshold_, gateThreshold_, &DecodeControls::gate_threshold),
      spinBinding(firstExit_, &DecodeControls::first_exit_layer),
      spinBinding(checkInterval_, &DecodeControls::check_interval),
      spinBinding(draft_, &DecodeControls::verify_draft),
      spinBinding(maxTokens_, &DecodeControls::max_new_tokens),
      spinBinding(noRepeatNgram_, &DecodeControls::no_repeat_ngram),
      decimalBinding(repetitionPenalty_, repetitionPenalty_, &DecodeControls::repetition_penalty),
      decimalBinding(lambda_, lambda_->spinBox(), &DecodeControls::lambda),
      decimalBinding(tau_, tau_->spinBox(), &DecodeControls::tau),
      decimalBinding(delta_, delta_->spinBox(), &DecodeControls::delta),
      decimalBinding(epsilon_, epsilon_->spinBox(), &DecodeControls::epsilon),
      // One combo for two fields: the K/V mode, or verify mode. The K/V mode
      // under verify is kept until the user picks another entry.
      {[this](const DecodeControls& c) { selectData(mode_, modeCode(c)); },
       [this](DecodeControls& c, const DecodeControls& shown) {
         if (mode_->currentData().toInt() != modeCode(shown)) applyModeCode(mode_->currentData().toInt(), c);
       }},
      {[this](const DecodeControls& c) {
         fromCalibration_->setChecked(c.lambdaFromCalibration);
         byHand_->setChecked(!c.lambdaFromCalibration);
       },
       [this](DecodeControls& c, const DecodeControls&) { c.lambdaFromCalibration = fromCalibration_->isChecked(); }},
  };

  setControls(shown_);
  for (QComboBox* box : {measure_, consistency_, metric_, mode_, method_, gate_})
    connect(box, &QComboBox::currentIndexChanged, this, &ControlPanel::emitEdited);
  for (SliderSpin* s : {lambda_, tau_, delta_, epsilon_}) {
    connect(s, &SliderSpin::valueChanged, this, &ControlPanel::emitEdited);
    connect(s, &SliderSpin::editingFinished, this, &ControlPanel::editingFinished);
  }
  connect(fromCalibration_, &QRadioButton::toggled, this, &ControlPanel::emitEdited);
  for (QSpinBox* spin : {maxTokens_, firstExit_, checkInterval_, draft_, noRepeatNgram_})
    connect(spin, &QSpinBox::valueChanged, this, &ControlPanel::emitEdited);
  for (QDoubleSpinBox* spin : {gateThreshold_, repetitionPenalty_})
    connect(spin, &QDoubleSpinBox::valueChanged, this, &ControlPanel::emitEdited);
}

void ControlPanel::updateEnabled(const DecodeControls& c) {
  lambda_->setEnabled(!c.lambdaFromCalibration);
  draft_->setEnabled(c.verify);
  const bool gated = calm::measure_needs_logits(c.measure);
  gate_->setEnabled(gated);
  gateThreshold_->setEnabled(gated && c.gate != calm::Gate::None);
  epsilon_->setEnabled(calm::is_learn_then_test(c.method));  // conformal risk control has no epsilon
}

void ControlPanel::setControls(const DecodeControls& c) {
  // Showing the session's state is not an edit: the widgets' own signals are
  // ignored meanwhile, so nothing echoes back.
  showing_ = true;
  for (const Binding& b : bindings_) b.show(c);
  showing_ = false;
  updateEnabled(c);
  shown_ = c;
}

DecodeControls ControlPanel::controls() const {
  DecodeControls c = shown_;
  for (const Binding& b : bindings_) b.read(c, shown_);
  return c;
}

void ControlPanel::emitEdited() {
  if (showing_) return;
  const DecodeControls c = controls();
  updateEnabled(c);
  if (c == shown_) return;
  shown_ = c;
  emit controlsEdited(c);
}

void ControlPanel::setModelLimits(bool hasClassifier, int maxNewTokens, int layers) {
  for (QComboBox* box : {measure_, gate_}) {
    auto* model = qobject_cast<QStandardItemModel*>(box->model());
    const int index = box->findData(box == measure_ ? int(calm::Measure::Classifier) : int(calm::Gate::Classifier));
    if (model && index >= 0) {
      QStandardItem* item = model->item(index);
      item->setEnabled(hasClassifier);
      item->setToolTip(hasClassifier ? QString() : tr("This model has no early-exit classifier head."));
    }
  }
  {
    // New ranges, then the values again: a value the old range clamped comes back.
    showing_ = true;
    maxTokens_->setMaximum(std::max(1, maxNewTokens));
    firstExit_->setMaximum(std::max(1, layers));
    checkInterval_->setMaximum(std::max(1, layers));
    maxTokens_->setValue(shown_.max_new_tokens);
    firstExit_->setValue(shown_.first_exit_layer);
    checkInterval_->setValue(shown_.check_interval);
    showing_ = false;
  }
  emitEdited();  // anything clamped to what the model can hold
}

void ControlPanel::setLambdaInForce(double lambda, const QString& explanation, bool calibrated) {
  lambdaInForce_->setText(tr("In force: <b>λ = %1</b><br><span style='color:%2'>%3</span>")
                              .arg(lambda, 0, 'f', 3)
                              .arg(calibrated ? QStringLiteral("#1a7f37") : QStringLiteral("#777"))
                              .arg(explanation.toHtmlEscaped()));
}

}  // namespace calm::ui
