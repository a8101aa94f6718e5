// A finished, traced decode replayed step by step for teaching: token by
// token and, within a token, layer by layer. For token t with exit layer e of
// L layers the steps are
//   Layer 1 .. Layer e   the confidence after each layer the token ran,
//   Exit                 the measure cleared lambda_t (or the last layer came):
//                        the chip takes its exit colour,
//   Fill                 (only when e < L) the skipped layers' K/V are filled,
//                        by propagating the exit state or, in catch-up mode,
//                        later, batched with the next token that goes deeper.
// Play advances one step per tick at a chosen speed; the views draw what
// visibleTokens() gives for the current step. No widgets: tests drive it.
#pragma once

#include <vector>

#include <QObject>
#include <QString>
#include <QStringList>
#include <QTimer>

#include "decode/decoder.h"

namespace calm::ui {

class Playback : public QObject {
  Q_OBJECT

 public:
  enum class Phase { Layer, Exit, Fill };
  struct Step {
    int token = 0;  // 0-based output position
    int layer = 1;  // Layer: the layer just run (1-based); Exit and Fill: the exit layer
    Phase phase = Phase::Layer;
    bool operator==(const Step&) const = default;
  };

  explicit Playback(QObject* parent = nullptr);

  // A traced run (every token has its per-layer confidences); false, with
  // nothing loaded, otherwise (verify mode records no trace).
  bool load(const std::vector<calm::TokenTrace>& tokens, const QStringList& pieces, int layers,
            calm::KvMode kvMode);
  void unload();
  bool loaded() const { return !steps_.empty(); }

  int stepCount() const { return static_cast<int>(steps_.size()); }
  int position() const { return position_; }  // index into the steps
  Step step() const { return steps_.at(static_cast<std::size_t>(position_)); }
  Step stepAt(int position) const { return steps_.at(static_cast<std::size_t>(position)); }
  bool atEnd() const { return position_ + 1 >= stepCount(); }

  // The tokens as the views should draw them at the current step: each cut
  // after the last layer it ran (later confidences NaN, their top tokens
  // empty but the last layer's); the current one after the step's layer, with
  // exit_layer 0 until its exit.
  std::vector<calm::TokenTrace> visibleTokens() const;
  // The token the current chip shows: while the token has not exited, the
  // top token of the layer just run (what an exit there would emit); then
  // the emitted token.
  int candidateToken() const;
  QStringList pieces() const { return pieces_; }
  // One sentence on what the current step shows.
  QString narration() const;

  bool playing() const { return timer_.isActive(); }
  double stepsPerSecond() const { return stepsPerSecond_; }

 public slots:
  void seek(int position);  // clamped to the steps
  void stepForward() { seek(position_ + 1); }
  void stepBack() { seek(position_ - 1); }
  void seekToken(int token);  // the first step of that token
  void nextToken();      // the first step of the next token (or the last step)
  void previousToken();  // the first step of this token, or of the previous one when already there
  void play();           // from the start when at the end
  void pause();
  void setStepsPerSecond(double rate);  // clamped to [0.25, 50]

 signals:
  void stepChanged();
  void playingChanged(bool playing);

 private:
  void tick();

  std::vector<calm::TokenTrace> tokens_;
  QStringList pieces_;
  int layers_ = 0;
  calm::KvMode kvMode_ = calm::KvMode::Propagate;
  std::vector<Step> steps_;
  std::vector<int> firstStepOf_;  // per token
  int position_ = 0;
  double stepsPerSecond_ = 4.0;
  QTimer timer_;
};

}  // namespace calm::ui
