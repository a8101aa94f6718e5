#include "widgets/PlaybackBar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

namespace calm::ui {

PlaybackBar::PlaybackBar(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("playbackBar"));
  auto* title = new QLabel(tr("<b>Playback</b>"));
  restart_ = button(QStringLiteral("playbackRestart"), QStringLiteral("|◀"), tr("Back to the first step"));
  previousToken_ = button(QStringLiteral("playbackPreviousToken"), QStringLiteral("◀◀"), tr("Previous token"));
  stepBack_ = button(QStringLiteral("playbackStepBack"), QStringLiteral("◀"), tr("One step back"));
  play_ = button(QStringLiteral("playbackPlay"), tr("▶ Play"),
                 tr("Replay this decode token by token and layer by layer"));
  step_ = button(QStringLiteral("playbackStep"), QStringLiteral("▶|"), tr("One step: the next layer, the exit, "
                                                                         "or the skipped layers' keys and values"));
  nextToken_ = button(QStringLiteral("playbackNextToken"), QStringLiteral("▶▶"), tr("Next token"));
  speed_ = new QComboBox;
  speed_->setObjectName(QStringLiteral("playbackSpeed"));
  speed_->setToolTip(tr("Steps per second while playing"));
  for (double rate : {0.5, 1.0, 2.0, 4.0, 8.0, 16.0})
    speed_->addItem(tr("%1 steps/s").arg(rate), rate);
  speed_->setCurrentIndex(3);
  showAll_ = button(QStringLiteral("playbackShowAll"), tr("Show all"), tr("Leave the playback: show the whole run"));
  position_ = new QLabel;
  position_->setObjectName(QStringLiteral("playbackPosition"));
  narration_ = new QLabel;
  narration_->setObjectName(QStringLiteral("playbackNarration"));
  narration_->setWordWrap(true);
  narration_->setStyleSheet(QStringLiteral("color:#333"));

  auto* row = new QHBoxLayout;
  row->setContentsMargins(0, 0, 0, 0);
  row->setSpacing(4);
  row->addWidget(title);
  row->addSpacing(6);
  for (QWidget* w : {static_cast<QWidget*>(restart_), static_cast<QWidget*>(previousToken_),
                     static_cast<QWidget*>(stepBack_), static_cast<QWidget*>(play_), static_cast<QWidget*>(step_),
                     static_cast<QWidget*>(nextToken_), static_cast<QWidget*>(speed_)})
    row->addWidget(w);
  row->addSpacing(8);
  row->addWidget(position_, 1);
  row->addWidget(showAll_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  layout->addLayout(row);
  layout->addWidget(narration_);

  connect(restart_, &QToolButton::clicked, this, &PlaybackBar::restartRequested);
  connect(previousToken_, &QToolButton::clicked, this, &PlaybackBar::previousTokenRequested);
  connect(stepBack_, &QToolButton::clicked, this, &PlaybackBar::stepBackRequested);
  connect(play_, &QToolButton::clicked, this, &PlaybackBar::playPauseRequested);
  connect(step_, &QToolButton::clicked, this, &PlaybackBar::stepRequested);
  connect(nextToken_, &QToolButton::clicked, this, &PlaybackBar::nextTokenRequested);
  connect(showAll_, &QToolButton::clicked, this, &PlaybackBar::showAllRequested);
  connect(speed_, &QComboBox::currentIndexChanged, this,
          [this] { emit stepsPerSecondChosen(stepsPerSecond()); });
  setAvailable(false, tr("Generate to play the decode back step by step."));
}

QToolButton* PlaybackBar::button(const QString& name, const QString& text, const QString& tip) {
  auto* b = new QToolButton;
  b->setObjectName(name);
  b->setText(text);
  b->setToolTip(tip);
  b->setAutoRaise(false);
  return b;
}

void PlaybackBar::setAvailable(bool available, const QString& why) {
  available_ = available;
  for (QWidget* w : {static_cast<QWidget*>(restart_), static_cast<QWidget*>(previousToken_),
                     static_cast<QWidget*>(stepBack_), static_cast<QWidget*>(play_), static_cast<QWidget*>(step_),
                     static_cast<QWidget*>(nextToken_), static_cast<QWidget*>(speed_)})
    w->setEnabled(available);
  showIdle();
  if (!available) position_->setText(QStringLiteral("<span style='color:#777'>%1</span>").arg(why.toHtmlEscaped()));
}

void PlaybackBar::showStep(int position, int steps, int token, int tokens, int layer, int layers,
                           const QString& narration) {
  position_->setText(tr("step %1 of %2 · token %3 of %4 · layer %5 of %6")
                         .arg(position + 1)
                         .arg(steps)
                         .arg(token + 1)
                         .arg(tokens)
                         .arg(layer)
                         .arg(layers));
  narration_->setText(narration);
  narration_->setVisible(true);
  showAll_->setVisible(true);
}

void PlaybackBar::showIdle() {
  narration_->clear();
  narration_->setVisible(false);
  showAll_->setVisible(false);
  setPlaying(false);
  if (available_)
    position_->setText(tr("<span style='color:#777'>watch each token climb the layers until it exits</span>"));
}

void PlaybackBar::setPlaying(bool playing) { play_->setText(playing ? tr("Pause") : tr("▶ Play")); }

double PlaybackBar::stepsPerSecond() const { return speed_->currentData().toDouble(); }

}  // namespace calm::ui
