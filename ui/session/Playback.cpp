#include "session/Playback.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "session/TokenText.h"

namespace calm::ui {

Playback::Playback(QObject* parent) : QObject(parent) {
  connect(&timer_, &QTimer::timeout, this, &Playback::tick);
}

bool Playback::load(const std::vector<calm::TokenTrace>& tokens, const QStringList& pieces, int layers,
                    calm::KvMode kvMode) {
  unload();
  const bool traced = !tokens.empty() && layers > 0 &&
                      std::all_of(tokens.begin(), tokens.end(), [layers](const calm::TokenTrace& t) {
                        return static_cast<int>(t.confidence.size()) == layers && t.exit_layer >= 1 &&
                               t.exit_layer <= layers;
                      });
  if (!traced) return false;
  tokens_ = tokens;
  pieces_ = pieces;
  layers_ = layers;
  kvMode_ = kvMode;
  for (int t = 0; t < static_cast<int>(tokens_.size()); ++t) {
    firstStepOf_.push_back(stepCount());
    const int exit = tokens_[static_cast<std::size_t>(t)].exit_layer;
    for (int layer = 1; layer <= exit; ++layer) steps_.push_back({t, layer, Phase::Layer});
    steps_.push_back({t, exit, Phase::Exit});
    if (exit < layers_) steps_.push_back({t, exit, Phase::Fill});
  }
  position_ = 0;
  emit stepChanged();
  return true;
}

void Playback::unload() {
  pause();
  tokens_.clear();
  pieces_.clear();
  steps_.clear();
  firstStepOf_.clear();
  position_ = 0;
}

std::vector<calm::TokenTrace> Playback::visibleTokens() const {
  if (!loaded()) return {};
  const Step s = step();
  std::vector<calm::TokenTrace> shown(tokens_.begin(), tokens_.begin() + s.token + 1);
  // Each token cut after the last layer it ran: the trace holds every layer
  // (the analysis pass), but CALM never ran those above an exit.
  for (calm::TokenTrace& token : shown) {
    const bool current = &token == &shown.back();
    const int ran = current && s.phase == Phase::Layer ? s.layer : token.exit_layer;
    for (int layer = ran + 1; layer <= layers_; ++layer) {
      token.confidence[static_cast<std::size_t>(layer - 1)] = std::numeric_limits<float>::quiet_NaN();
      // The last layer's top token stays: the plot colours each label by
      // whether it agrees with it (its own point is hidden with its confidence).
      if (layer < layers_ && static_cast<int>(token.top.size()) >= layer)
        token.top[static_cast<std::size_t>(layer - 1)].clear();
    }
    if (current && s.phase == Phase::Layer) token.exit_layer = 0;  // not decided yet
  }
  return shown;
}

int Playback::candidateToken() const {
  if (!loaded()) return -1;
  const Step s = step();
  const calm::TokenTrace& token = tokens_[static_cast<std::size_t>(s.token)];
  const auto layer = static_cast<std::size_t>(s.layer - 1);
  if (s.phase == Phase::Layer && layer < token.top.size() && !token.top[layer].empty())
    return token.top[layer].front().id;
  return token.token;
}

QString Playback::narration() const {
  if (!loaded()) return {};
  const Step s = step();
  const calm::TokenTrace& token = tokens_[static_cast<std::size_t>(s.token)];
  const int e = token.exit_layer;
  const QString piece = s.token < pieces_.size() ? TokenText::quoted(pieces_[s.token]) : QString();
  const QString where = tr("Token %1 of %2").arg(s.token + 1).arg(tokens_.size());
  switch (s.phase) {
    case Phase::Layer: {
      const float c = token.confidence[static_cast<std::size_t>(s.layer - 1)];
      const QString head = tr("%1, layer %2 of %3: ").arg(where).arg(s.layer).arg(layers_);
      if (s.layer == e && e == layers_ && !(std::isfinite(c) && c >= token.threshold))
        return head + tr("the last layer; the token is emitted whatever its confidence.");
      if (!std::isfinite(c)) return head + tr("no exit check at this layer; on to layer %1.").arg(s.layer + 1);
      if (s.layer == e)
        return head + tr("confidence %1 clears the threshold λt = %2: exit here.")
                          .arg(c, 0, 'f', 3)
                          .arg(token.threshold, 0, 'f', 3);
      if (c < token.threshold)
        return head + tr("confidence %1 is below the threshold λt = %2; on to layer %3.")
                          .arg(c, 0, 'f', 3)
                          .arg(token.threshold, 0, 'f', 3)
                          .arg(s.layer + 1);
      return head + tr("confidence %1, but this layer may not exit (gate or check interval); on to layer %2.")
                        .arg(c, 0, 'f', 3)
                        .arg(s.layer + 1);
    }
    case Phase::Exit:
      if (e == layers_) return tr("%1 %2 ran all %3 layers: it takes the last layer's colour.").arg(where, piece).arg(layers_);
      return tr("%1 %2 leaves after layer %3 of %4, saving %5 layers: the chip takes layer %3's colour.")
          .arg(where, piece)
          .arg(e)
          .arg(layers_)
          .arg(layers_ - e);
    case Phase::Fill: {
      const QString skipped = e + 1 == layers_ ? tr("Layer %1").arg(layers_) : tr("Layers %1–%2").arg(e + 1).arg(layers_);
      switch (kvMode_) {
        case calm::KvMode::Propagate:
          return tr("%1 skipped: their keys and values for this token are computed from layer %2's state "
                    "(propagation), so later tokens can attend to it there.")
              .arg(skipped)
              .arg(e);
        case calm::KvMode::CatchUp:
          return tr("%1 skipped: their keys and values for this token are computed for real later, batched "
                    "with the next token that goes deeper (catch-up).")
              .arg(skipped);
        case calm::KvMode::Exact:
          return tr("%1 skipped for the output, but run at once for their keys and values (exact mode: "
                    "the same text, no saving).")
              .arg(skipped);
      }
    }
  }
  return {};
}

void Playback::seek(int position) {
  if (!loaded()) return;
  const int p = std::clamp(position, 0, stepCount() - 1);
  if (p == position_) return;
  position_ = p;
  emit stepChanged();
}

void Playback::seekToken(int token) {
  if (!loaded() || token < 0 || token >= static_cast<int>(firstStepOf_.size())) return;
  seek(firstStepOf_[static_cast<std::size_t>(token)]);
}

void Playback::nextToken() {
  if (!loaded()) return;
  const int next = step().token + 1;
  seek(next < static_cast<int>(firstStepOf_.size()) ? firstStepOf_[static_cast<std::size_t>(next)] : stepCount() - 1);
}

void Playback::previousToken() {
  if (!loaded()) return;
  const int t = step().token;
  const int first = firstStepOf_[static_cast<std::size_t>(t)];
  seek(position_ > first || t == 0 ? first : firstStepOf_[static_cast<std::size_t>(t - 1)]);
}

void Playback::play() {
  if (!loaded() || playing()) return;
  if (atEnd()) seek(0);
  timer_.start(static_cast<int>(std::lround(1000.0 / stepsPerSecond_)));
  emit playingChanged(true);
}

void Playback::pause() {
  if (!playing()) return;
  timer_.stop();
  emit playingChanged(false);
}

void Playback::setStepsPerSecond(double rate) {
  stepsPerSecond_ = std::clamp(rate, 0.25, 50.0);
  if (playing()) timer_.setInterval(static_cast<int>(std::lround(1000.0 / stepsPerSecond_)));
}

void Playback::tick() {
  stepForward();
  if (atEnd()) pause();
}

}  // namespace calm::ui
