// The step-by-step playback of a traced decode (session/Playback): the steps
// of each token (its layers up to the exit, the exit, the K/V fill of the
// skipped layers), what the views are given at each step, the narration,
// token jumps and timed play. Built on a hand-made trace whose exits and
// confidences are known, so every expected value is written down here.
#include <cmath>

#include <QtTest>

#include "session/Playback.h"

using namespace calm::ui;
using Phase = Playback::Phase;

namespace {

constexpr int kLayers = 4;

// Token t exits at exits[t]; its confidence after layer l is conf[t][l-1];
// the top token of layer l is 100 * (t + 1) + l, and the emitted one is the
// exit layer's top.
std::vector<calm::TokenTrace> trace() {
  const int exits[] = {2, 4, 1};
  const float conf[][kLayers] = {{0.2f, 0.7f, 0.8f, 0.9f}, {0.1f, 0.2f, 0.3f, 0.4f}, {0.95f, 0.5f, 0.6f, 0.7f}};
  std::vector<calm::TokenTrace> tokens;
  for (int t = 0; t < 3; ++t) {
    calm::TokenTrace token;
    token.position = t;
    token.exit_layer = exits[t];
    token.threshold = 0.6f;
    token.token = 100 * (t + 1) + exits[t];
    for (int l = 1; l <= kLayers; ++l) {
      token.confidence.push_back(conf[t][l - 1]);
      token.top.push_back({{100 * (t + 1) + l, 0.5f}});
    }
    tokens.push_back(token);
  }
  return tokens;
}

const QStringList kPieces{QStringLiteral("▁a"), QStringLiteral("▁b"), QStringLiteral("▁c")};

}  // namespace

class TestUiPlayback : public QObject {
  Q_OBJECT

 private slots:
  // Token 0 (exit 2): L1 L2 Exit Fill; token 1 (exit 4 = all): L1..L4 Exit;
  // token 2 (exit 1): L1 Exit Fill. 4 + 5 + 3 = 12 steps, in this order.
  void stepsFollowTheLayersEachTokenRan() {
    Playback p;
    QVERIFY(p.load(trace(), kPieces, kLayers, calm::KvMode::Propagate));
    const std::vector<Playback::Step> expected = {
        {0, 1, Phase::Layer}, {0, 2, Phase::Layer}, {0, 2, Phase::Exit}, {0, 2, Phase::Fill},
        {1, 1, Phase::Layer}, {1, 2, Phase::Layer}, {1, 3, Phase::Layer}, {1, 4, Phase::Layer},
        {1, 4, Phase::Exit},  {2, 1, Phase::Layer}, {2, 1, Phase::Exit},  {2, 1, Phase::Fill}};
    QCOMPARE(p.stepCount(), static_cast<int>(expected.size()));
    for (int i = 0; i < p.stepCount(); ++i) QVERIFY2(p.stepAt(i) == expected[static_cast<std::size_t>(i)], qPrintable(QString::number(i)));
    QCOMPARE(p.position(), 0);
  }

  // At a layer step the current token is cut after that layer and has no
  // exit yet; tokens before it are whole; from the exit on it has its exit
  // and stops there.
  void theViewsSeeOnlyWhatTheDecodeHasDone() {
    Playback p;
    QVERIFY(p.load(trace(), kPieces, kLayers, calm::KvMode::Propagate));
    p.seek(5);  // token 1, layer 2
    std::vector<calm::TokenTrace> shown = p.visibleTokens();
    QCOMPARE(shown.size(), std::size_t(2));
    QCOMPARE(shown[0].exit_layer, 2);
    QCOMPARE(shown[0].confidence[1], 0.7f);
    QVERIFY(std::isnan(shown[0].confidence[2]));  // token 0 never ran layer 3
    QCOMPARE(shown[1].exit_layer, 0);
    QCOMPARE(shown[1].confidence[0], 0.1f);
    QCOMPARE(shown[1].confidence[1], 0.2f);
    QVERIFY(std::isnan(shown[1].confidence[2]) && std::isnan(shown[1].confidence[3]));
    QVERIFY(shown[1].top[2].empty());
    QCOMPARE(shown[1].top[3].front().id, 204);  // the last layer's top stays, for the plot's colours
    QCOMPARE(p.candidateToken(), 202);          // layer 2's top token
    p.seek(8);  // token 1's exit
    shown = p.visibleTokens();
    QCOMPARE(shown[1].exit_layer, 4);
    QCOMPARE(shown[1].confidence[3], 0.4f);
    QCOMPARE(p.candidateToken(), 204);
    p.seek(11);
    QCOMPARE(p.visibleTokens().size(), std::size_t(3));
    QVERIFY(p.atEnd());
  }

  void narrationSaysWhatHappens() {
    Playback p;
    QVERIFY(p.load(trace(), kPieces, kLayers, calm::KvMode::Propagate));
    QVERIFY(p.narration().contains(QStringLiteral("0.200 is below the threshold λt = 0.600; on to layer 2")));
    p.stepForward();
    QVERIFY(p.narration().contains(QStringLiteral("0.700 clears the threshold λt = 0.600: exit here")));
    p.stepForward();
    QVERIFY(p.narration().contains(QStringLiteral("leaves after layer 2 of 4, saving 2 layers")));
    p.stepForward();
    QVERIFY(p.narration().contains(QStringLiteral("Layers 3–4 skipped")));
    QVERIFY(p.narration().contains(QStringLiteral("propagation")));
    p.seek(7);  // token 1 reaches the last layer without clearing the threshold
    QVERIFY(p.narration().contains(QStringLiteral("the last layer; the token is emitted whatever its confidence")));
    p.stepForward();
    QVERIFY(p.narration().contains(QStringLiteral("ran all 4 layers")));
    Playback catchUp;
    QVERIFY(catchUp.load(trace(), kPieces, kLayers, calm::KvMode::CatchUp));
    catchUp.seek(3);
    QVERIFY(catchUp.narration().contains(QStringLiteral("catch-up")));
  }

  void tokenJumps() {
    Playback p;
    QVERIFY(p.load(trace(), kPieces, kLayers, calm::KvMode::Propagate));
    p.nextToken();
    QCOMPARE(p.position(), 4);
    p.nextToken();
    QCOMPARE(p.position(), 9);
    p.nextToken();  // no next token: the last step
    QCOMPARE(p.position(), 11);
    p.previousToken();  // to the start of this token
    QCOMPARE(p.position(), 9);
    p.previousToken();  // already there: the previous token
    QCOMPARE(p.position(), 4);
    p.seekToken(2);
    QCOMPARE(p.position(), 9);
    p.seek(-5);
    QCOMPARE(p.position(), 0);
    p.stepBack();
    QCOMPARE(p.position(), 0);
    p.seek(1000);
    QCOMPARE(p.position(), 11);
  }

  // Play runs to the end at the chosen speed and stops there; play at the
  // end starts again from the first step.
  void playRunsToTheEndAndStops() {
    Playback p;
    QVERIFY(p.load(trace(), kPieces, kLayers, calm::KvMode::Propagate));
    QSignalSpy steps(&p, &Playback::stepChanged);
    QSignalSpy playing(&p, &Playback::playingChanged);
    p.setStepsPerSecond(50);
    p.play();
    QVERIFY(p.playing());
    QTRY_VERIFY_WITH_TIMEOUT(!p.playing(), 5000);
    QVERIFY(p.atEnd());
    QCOMPARE(steps.count(), p.stepCount() - 1);
    QCOMPARE(playing.count(), 2);
    p.play();
    QCOMPARE(p.position(), 0);
    p.pause();
    QVERIFY(!p.playing());
    p.setStepsPerSecond(1000);
    QCOMPARE(p.stepsPerSecond(), 50.0);
  }

  // A run without a per-layer trace (verify mode) cannot be played back.
  void anUntracedRunIsRefused() {
    Playback p;
    std::vector<calm::TokenTrace> tokens = trace();
    tokens[1].confidence.clear();
    QVERIFY(!p.load(tokens, kPieces, kLayers, calm::KvMode::Propagate));
    QVERIFY(!p.loaded());
    QVERIFY(!p.load({}, {}, kLayers, calm::KvMode::Propagate));
    p.stepForward();  // harmless when empty
    QVERIFY(p.visibleTokens().empty());
    QCOMPARE(p.candidateToken(), -1);
  }
};

QTEST_GUILESS_MAIN(TestUiPlayback)
#include "test_ui_playback.moc"
