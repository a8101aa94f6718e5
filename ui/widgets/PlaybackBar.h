// The playback controls above the output: back to the start, previous token,
// step back, play/pause, step, next token, speed, and "Show all" to leave the
// playback; below them one sentence on the current step. It only shows and
// forwards: Playback (session/Playback.h) holds the state.
#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QToolButton;

namespace calm::ui {

class PlaybackBar : public QWidget {
  Q_OBJECT

 public:
  explicit PlaybackBar(QWidget* parent = nullptr);

  // Whether there is a traced run to play back; `why` says why not.
  void setAvailable(bool available, const QString& why = QString());
  // In playback: the position and the narration; or out of it.
  void showStep(int position, int steps, int token, int tokens, int layer, int layers, const QString& narration);
  void showIdle();
  void setPlaying(bool playing);
  double stepsPerSecond() const;

 signals:
  void restartRequested();
  void previousTokenRequested();
  void stepBackRequested();
  void playPauseRequested();
  void stepRequested();
  void nextTokenRequested();
  void stepsPerSecondChosen(double rate);
  void showAllRequested();

 private:
  QToolButton* button(const QString& name, const QString& text, const QString& tip);

  QToolButton* restart_;
  QToolButton* previousToken_;
  QToolButton* stepBack_;
  QToolButton* play_;
  QToolButton* step_;
  QToolButton* nextToken_;
  QToolButton* showAll_;
  QComboBox* speed_;
  QLabel* position_;
  QLabel* narration_;
  bool available_ = false;
};

}  // namespace calm::ui
