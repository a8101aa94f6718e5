#include "widgets/GuidedTour.h"

#include <algorithm>

#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QPainter>
#include <QPainterPath>
#include <QPushButton>
#include <QVBoxLayout>

namespace calm::ui {

std::vector<TourStep> tourSteps() {
  const auto tr = [](const char* text) { return QObject::tr(text); };
  return {
      {QStringLiteral("modelPanel"), {}, tr("The model"),
       tr("A small bundled model is loaded. Each of its decoder layers can emit a token: the same final norm and "
          "output head read any layer's state. Open… takes your own checkpoint (Hugging Face safetensors).")},
      {QStringLiteral("promptPanel"), {}, tr("Prompt and Generate"),
       tr("Pick an example or type a prompt, then Generate. The model decodes twice: with early exits (CALM) and "
          "in full, so the line under the prompt can say how many layers were run on average, how much faster "
          "it was, and whether the text differs.")},
      {QStringLiteral("tokenView"), {}, tr("One chip per token"),
       tr("Each token is coloured by the layer it left at: green left early, red ran the whole decoder. Click a "
          "chip (or use ← →) to inspect it below.")},
      {QStringLiteral("confidencePlot"), {}, tr("Why it left where it did"),
       tr("The selected token's confidence after every layer, with each layer's best guess beside its point. The "
          "dashed line is the threshold λt: the first layer whose confidence clears it is where the token exits.")},
      {QStringLiteral("playbackBar"), {}, tr("Play it back"),
       tr("Replay the decode token by token and layer by layer: watch the confidence climb, the exit fire, and "
          "the skipped layers' keys and values get filled. ▶| steps; ▶ Play runs at the chosen speed.")},
      {QStringLiteral("measureBox"), {}, tr("The confidence measure"),
       tr("What \"confident\" means: the gap between the two most likely tokens (softmax), how little the hidden "
          "state still changes (state), or a small trained classifier. Each has its own certified threshold.")},
      {QStringLiteral("lambdaControl"), {}, tr("The threshold λ"),
       tr("From calibration uses the λ certified for the guarantee below (the bundled models ship one); By hand "
          "lets you move it and see the trade-off at once: lower λ exits earlier and risks more change.")},
      {QStringLiteral("deltaControl"), {}, tr("The guarantee"),
       tr("Calibration (Learn then Test) picks λ so that, with probability 1 − ε over the calibration set, the "
          "expected distance of CALM's text from the full model's on new prompts is at most δ.")},
      {QStringLiteral("layerHeatmap"), QStringLiteral("heatmap"), tr("The whole output at once"),
       tr("Every token (across) at every layer (up): the confidence, and the line of exits drawn over it.")},
      {QStringLiteral("measureComparison"), QStringLiteral("measures"), tr("Compare the measures"),
       tr("The same prompt decoded with each measure at its certified λ, and with the local oracle that exits "
          "as soon as a layer agrees with the last: what each measure saves, side by side.")},
      {QStringLiteral("calibrationPanel"), QStringLiteral("calibration"), tr("Calibrate your own"),
       tr("Run Learn then Test on a set of prompts (JSON lines) for your model and settings; the certified λ "
          "appears in the λ panel and can be exported as a thresholds file for calm generate and calm serve.")},
  };
}

GuidedTour::GuidedTour(QWidget* window, std::vector<TourStep> steps) : QWidget(window), steps_(std::move(steps)) {
  setObjectName(QStringLiteral("guidedTour"));
  setFocusPolicy(Qt::StrongFocus);
  setAttribute(Qt::WA_NoSystemBackground);
  bubble_ = new QWidget(this);
  bubble_->setObjectName(QStringLiteral("tourBubble"));
  bubble_->setAutoFillBackground(true);
  bubble_->setStyleSheet(QStringLiteral("#tourBubble { background: #fffdf5; border: 2px solid #1f6feb; "
                                        "border-radius: 8px; }"));
  bubble_->setFixedWidth(340);
  counter_ = new QLabel;
  counter_->setStyleSheet(QStringLiteral("color:#666"));
  title_ = new QLabel;
  title_->setObjectName(QStringLiteral("tourTitle"));
  QFont big = title_->font();
  big.setBold(true);
  big.setPointSizeF(big.pointSizeF() * 1.2);
  title_->setFont(big);
  text_ = new QLabel;
  text_->setObjectName(QStringLiteral("tourText"));
  text_->setWordWrap(true);
  back_ = new QPushButton(tr("Back"));
  back_->setObjectName(QStringLiteral("tourBack"));
  next_ = new QPushButton(tr("Next"));
  next_->setObjectName(QStringLiteral("tourNext"));
  next_->setDefault(true);
  close_ = new QPushButton(tr("Close"));
  close_->setObjectName(QStringLiteral("tourClose"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(close_);
  buttons->addStretch(1);
  buttons->addWidget(back_);
  buttons->addWidget(next_);
  auto* layout = new QVBoxLayout(bubble_);
  layout->setContentsMargins(14, 12, 14, 12);
  layout->addWidget(counter_);
  layout->addWidget(title_);
  layout->addWidget(text_);
  layout->addLayout(buttons);
  connect(back_, &QPushButton::clicked, this, [this] { showStep(current_ - 1); });
  connect(next_, &QPushButton::clicked, this, [this] {
    if (current_ + 1 < stepCount()) {
      showStep(current_ + 1);
    } else {
      hide();
      emit finished();
    }
  });
  connect(close_, &QPushButton::clicked, this, [this] {
    hide();
    emit finished();
  });
  window->installEventFilter(this);
  hide();
}

void GuidedTour::start() { showStep(0); }

void GuidedTour::showStep(int index) {
  if (steps_.empty()) return;
  current_ = std::clamp(index, 0, stepCount() - 1);
  const TourStep& step = steps_[static_cast<std::size_t>(current_)];
  if (!step.tab.isEmpty()) emit tabNeeded(step.tab);
  target_ = parentWidget()->findChild<QWidget*>(step.target);
  counter_->setText(tr("Step %1 of %2").arg(current_ + 1).arg(stepCount()));
  title_->setText(step.title);
  text_->setText(step.text);
  back_->setEnabled(current_ > 0);
  next_->setText(current_ + 1 < stepCount() ? tr("Next") : tr("Finish"));
  show();
  raise();
  setFocus();
  place();
}

QString GuidedTour::bubbleText() const { return title_->text() + QLatin1Char('\n') + text_->text(); }

QRect GuidedTour::targetRect() const {
  if (!target_ || !target_->isVisible()) return {};
  return QRect(target_->mapTo(parentWidget(), QPoint(0, 0)), target_->size()).adjusted(-4, -4, 4, 4);
}

void GuidedTour::place() {
  setGeometry(parentWidget()->rect());
  bubble_->adjustSize();
  const QRect t = targetRect();
  const QSize b = bubble_->size();
  const int gap = 12;
  QPoint at;
  if (t.isNull())
    at = QPoint((width() - b.width()) / 2, (height() - b.height()) / 2);
  else if (t.right() + gap + b.width() <= width())
    at = QPoint(t.right() + gap, t.top());
  else if (t.left() - gap - b.width() >= 0)
    at = QPoint(t.left() - gap - b.width(), t.top());
  else if (t.bottom() + gap + b.height() <= height())
    at = QPoint(t.left(), t.bottom() + gap);
  else
    at = QPoint(t.left(), t.top() - gap - b.height());
  at.setX(std::clamp(at.x(), 0, std::max(0, width() - b.width())));
  at.setY(std::clamp(at.y(), 0, std::max(0, height() - b.height())));
  bubble_->move(at);
  update();
}

void GuidedTour::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  QPainterPath dim;
  dim.addRect(rect());
  const QRect t = targetRect();
  if (!t.isNull()) {
    QPainterPath hole;
    hole.addRoundedRect(t, 6, 6);
    dim = dim.subtracted(hole);
  }
  p.fillPath(dim, QColor(0, 0, 0, 110));
  if (!t.isNull()) {
    p.setPen(QPen(QColor(0x1f, 0x6f, 0xeb), 3));
    p.drawRoundedRect(t, 6, 6);
  }
}

void GuidedTour::keyPressEvent(QKeyEvent* event) {
  switch (event->key()) {
    case Qt::Key_Escape: close_->click(); break;
    case Qt::Key_Right:
    case Qt::Key_Return:
    case Qt::Key_Enter: next_->click(); break;
    case Qt::Key_Left: if (back_->isEnabled()) back_->click(); break;
    default: QWidget::keyPressEvent(event);
  }
}

bool GuidedTour::eventFilter(QObject* watched, QEvent* event) {
  if (watched == parentWidget() && event->type() == QEvent::Resize && isVisible()) place();
  return QWidget::eventFilter(watched, event);
}

}  // namespace calm::ui
