// calm_ui_latency: how long CALM Studio takes from a lambda change to a repainted
// token view. Opens the real MainWindow (offscreen unless QT_QPA_PLATFORM says
// otherwise) on a model, generates once on a long example prompt, then moves the
// lambda control the way a user does, one value at a time, and times each step
// until the token view has been painted with the new result.
//
//   calm_ui_latency [--model NAME|DIR] [--steps N] [--max-new-tokens N]
//                   [--example N] [--prompt TEXT] [--input slider|spin]
//                   [--debounce MS] [--size WxH]
//
// Per step it prints the total latency and its parts:
//   debounce  value change -> the session starts decoding (its debounce timer)
//   worker    decoding started -> result back on the GUI thread; of it
//   decode    the traced CALM run's own seconds (DecodeResult::seconds), the
//             rest being the untraced timing runs and any full-model run
//   ui        result back -> window handlers, layout, repaint and a forced paint
//             of the token view (QWidget::grab)
//   chips     value change -> the last token of the new run streamed into the
//             token view (it shows tokens as they are decoded; the timing runs,
//             plots and status line follow)
// and then the median and max of each. "decode" vs "other" splits the total the
// simple way: other = total - decode. Not a test: nothing is asserted.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include <QAbstractSlider>
#include <QApplication>
#include <QCommandLineParser>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFileInfo>
#include <QPixmap>
#include <QSlider>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest/QTest>

#include "session/ExamplePrompts.h"
#include "MainWindow.h"
#include "session/SettingsStore.h"
#include "widgets/SliderSpin.h"
#include "session/StudioSession.h"
#include "widgets/TokenView.h"
#include "model/catalog.h"

using namespace calm::ui;

namespace {

constexpr int kTimeoutMs = 120000;

void fail(const QString& message) { std::fprintf(stderr, "calm_ui_latency: %s\n", qPrintable(message)); }

// Runs the event loop until `done` holds or the timeout passes.
template <typename Pred>
bool waitFor(Pred done, int timeoutMs = kTimeoutMs) {
  QElapsedTimer clock;
  clock.start();
  QTimer wake;  // so that the blocking wait below comes back to check the time
  wake.start(500);
  while (!done()) {
    if (clock.elapsed() > timeoutMs) return false;
    // Sleeps until an event arrives: no spinning that would steal a core from the decoder.
    QCoreApplication::processEvents(QEventLoop::AllEvents | QEventLoop::WaitForMoreEvents);
  }
  return true;
}

// Every posted event (layout requests, queued replots, update requests) handled.
void settle() {
  for (int i = 0; i < 3; ++i) {
    QCoreApplication::sendPostedEvents();
    QCoreApplication::processEvents(QEventLoop::AllEvents);
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double maximum(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

struct Step {
  double lambda = 0.0;
  int tokens = 0;
  int engineRuns = 0;
  double total = 0.0, debounce = 0.0, worker = 0.0, decode = 0.0, ui = 0.0, chips = 0.0;  // ms
};

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setApplicationName(QStringLiteral("calm_ui_latency"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral("Lambda-slider-to-repaint latency of CALM Studio."));
  parser.addHelpOption();
  const QCommandLineOption modelOpt(QStringLiteral("model"), QStringLiteral("Bundled model name or directory (default: the bundled default)."), QStringLiteral("NAME|DIR"));
  const QCommandLineOption stepsOpt(QStringLiteral("steps"), QStringLiteral("Lambda values to step through (default 20)."), QStringLiteral("N"));
  const QCommandLineOption maxNewOpt(QStringLiteral("max-new-tokens"), QStringLiteral("Max new tokens (default 64)."), QStringLiteral("N"));
  const QCommandLineOption exampleOpt(QStringLiteral("example"), QStringLiteral("Use the N-th bundled example (default: the longest of the first 40 that fills max new tokens)."), QStringLiteral("N"));
  const QCommandLineOption promptOpt(QStringLiteral("prompt"), QStringLiteral("Use this prompt instead of an example."), QStringLiteral("TEXT"));
  const QCommandLineOption inputOpt(QStringLiteral("input"), QStringLiteral("How lambda is moved: slider (drag to the value, default) or spin (type it and press Enter)."), QStringLiteral("HOW"));
  const QCommandLineOption debounceOpt(QStringLiteral("debounce"), QStringLiteral("Override the session's re-decode debounce (ms; default: the app's)."), QStringLiteral("MS"));
  const QCommandLineOption sizeOpt(QStringLiteral("size"), QStringLiteral("Window size (default 1600x1000)."), QStringLiteral("WxH"));
  parser.addOptions({modelOpt, stepsOpt, maxNewOpt, exampleOpt, promptOpt, inputOpt, debounceOpt, sizeOpt});
  parser.process(app);

  QString modelDir;
  try {
    modelDir = QString::fromStdString(parser.isSet(modelOpt) ? calm::resolve_model_dir(parser.value(modelOpt).toStdString())
                                                             : calm::resolve_model_dir("kjv2web"));
  } catch (const std::exception& e) {
    try {
      modelDir = QString::fromStdString(calm::default_model_dir());
    } catch (const std::exception&) {
      fail(QString::fromUtf8(e.what()));
      return 3;
    }
    if (parser.isSet(modelOpt)) {
      fail(QString::fromUtf8(e.what()));
      return 3;
    }
  }
  const int steps = parser.isSet(stepsOpt) ? std::max(1, parser.value(stepsOpt).toInt()) : 20;
  const int maxNew = parser.isSet(maxNewOpt) ? std::max(1, parser.value(maxNewOpt).toInt()) : 64;
  const bool viaSpin = parser.value(inputOpt) == QLatin1String("spin");
  QSize size(1600, 1000);
  if (parser.isSet(sizeOpt)) {
    const QStringList wh = parser.value(sizeOpt).split(QLatin1Char('x'));
    if (wh.size() == 2 && wh[0].toInt() > 0 && wh[1].toInt() > 0) size = QSize(wh[0].toInt(), wh[1].toInt());
  }

  QTemporaryDir settingsDir;  // never touch the user's settings
  SettingsStore settings(settingsDir.filePath(QStringLiteral("latency.ini")));
  StudioSession session;
  if (parser.isSet(debounceOpt)) session.setDebounceInterval(std::max(0, parser.value(debounceOpt).toInt()));
  MainWindow window(session, settings);
  window.resize(size);
  window.setModelList({{QFileInfo(modelDir).fileName(), modelDir}});
  window.show();

  bool loaded = false, loadFailed = false;
  QObject::connect(&session, &StudioSession::modelLoaded, &app, [&] { loaded = true; });
  QObject::connect(&session, &StudioSession::modelFailed, &app, [&](const QString&, const QString& message) {
    fail(message);
    loadFailed = true;
  });
  session.loadModel(modelDir);
  if (!waitFor([&] { return loaded || loadFailed; }) || loadFailed) return 3;

  // Lambda by hand at the control's starting value, max new tokens as asked.
  DecodeControls c = session.controls();
  c.lambdaFromCalibration = false;
  c.lambda = 0.80;
  c.max_new_tokens = std::min(maxNew, session.maxNewTokensLimit());
  session.setControls(c);

  // Instrumentation: when decoding starts and when the result is back (the
  // window's own outcome handler runs on outcomeChanged, after generationFinished).
  QElapsedTimer clock;
  clock.start();
  qint64 startedAt = -1, finishedAt = -1, streamedAt = -1;
  bool failed = false;
  QObject::connect(&session, &StudioSession::generationStarted, &app, [&] { startedAt = clock.nsecsElapsed(); });
  QObject::connect(&session, &StudioSession::generationFinished, &app, [&] { finishedAt = clock.nsecsElapsed(); });
  // The token view's own handler runs first (connected before): this is when the last chip was set.
  QObject::connect(&session, &StudioSession::tokenStreamed, &app, [&] { streamedAt = clock.nsecsElapsed(); });
  QObject::connect(&session, &StudioSession::generationFailed, &app, [&](const QString& message) {
    fail(message);
    failed = true;
  });

  const auto generateOnce = [&](const QString& prompt, const std::optional<QString>& reference) -> int {
    session.setPrompt(prompt, reference);
    finishedAt = -1;
    session.generate();
    if (!waitFor([&] { return finishedAt >= 0 || failed; }) || failed) return -1;
    settle();
    return session.outcome() ? session.outcome()->tokenCount() : -1;
  };

  // The prompt: given, the N-th example, or the longest early example whose output fills max new tokens.
  QString promptLabel;
  int tokens = -1;
  const QList<ExamplePrompt> examples = ExamplePrompts::forModel(QFileInfo(modelDir).fileName(), 40);
  if (parser.isSet(promptOpt)) {
    promptLabel = QStringLiteral("--prompt");
    tokens = generateOnce(parser.value(promptOpt), std::nullopt);
  } else if (parser.isSet(exampleOpt)) {
    const int n = parser.value(exampleOpt).toInt();
    if (n < 0 || n >= examples.size()) {
      fail(QStringLiteral("this model has no bundled example %1").arg(n));
      return 2;
    }
    promptLabel = QStringLiteral("example %1").arg(n);
    tokens = generateOnce(examples[n].input, examples[n].reference);
  } else {
    if (examples.isEmpty()) {
      fail(QStringLiteral("this model has no bundled examples: pass --prompt"));
      return 2;
    }
    QList<int> order;
    for (int i = 0; i < examples.size(); ++i) order << i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return examples[a].input.size() > examples[b].input.size(); });
    int best = -1, bestTokens = -1;
    for (int k = 0; k < std::min<int>(6, order.size()); ++k) {
      const int n = order[k];
      const int t = generateOnce(examples[n].input, examples[n].reference);
      if (t < 0) return 4;
      if (t > bestTokens) best = n, bestTokens = t;
      if (t >= c.max_new_tokens) break;
    }
    promptLabel = QStringLiteral("example %1 (longest input that fills the output)").arg(best);
    tokens = generateOnce(examples[best].input, examples[best].reference);
  }
  if (tokens < 0) return 4;

  auto* lambdaControl = window.findChild<SliderSpin*>(QStringLiteral("lambdaControl"));
  auto* tokenView = window.findChild<TokenView*>(QStringLiteral("tokenView"));
  if (!lambdaControl || !tokenView || !lambdaControl->isEnabled()) {
    fail(QStringLiteral("the lambda control or the token view was not found (or lambda is not set by hand)"));
    return 4;
  }

  std::printf("model:   %s\n", qPrintable(modelDir));
  std::printf("prompt:  %s, %d output tokens (max new tokens %d)\n", qPrintable(promptLabel), tokens, c.max_new_tokens);
  std::printf("         \"%s\"\n", qPrintable(session.prompt().left(100)));
  std::printf("input:   %s; debounce %d ms; window %dx%d on %s\n", viaSpin ? "spin box (typed, Enter)" : "slider (dragged)",
              session.debounceInterval(), size.width(), size.height(), qPrintable(QGuiApplication::platformName()));
  std::printf("\n%5s %6s %6s %5s %9s %9s %9s %9s %9s %9s\n", "step", "lambda", "tokens", "runs", "total_ms",
              "debounce", "worker", "decode", "ui", "chips");

  std::vector<Step> results;
  QSlider* slider = lambdaControl->slider();
  QDoubleSpinBox* spin = lambdaControl->spinBox();
  for (int i = 0; i < steps; ++i) {
    // A sweep that never lands on the starting 0.80: 0.02, 0.07, ... 0.97, then round again.
    const int hundredths = (2 + 5 * i) % 100;
    const double target = hundredths / 100.0;
    settle();
    const int runsBefore = session.engineRuns();
    startedAt = finishedAt = streamedAt = -1;
    const qint64 t0 = clock.nsecsElapsed();
    if (viaSpin) {
      spin->setFocus();
      spin->selectAll();
      QTest::keyClicks(spin, QString::number(target, 'f', 2));
      QTest::keyClick(spin, Qt::Key_Return);
    } else {
      // What QSlider does for a drag: pressed, moved (tracking emits valueChanged), released.
      slider->setSliderDown(true);
      slider->setSliderPosition(hundredths);
      slider->setSliderDown(false);
    }
    if (!waitFor([&] {
          const auto o = session.outcome();
          return failed || (finishedAt >= 0 && o && o->options.lambda == static_cast<float>(target));
        })) {
      fail(QStringLiteral("no result for lambda %1").arg(target));
      return 4;
    }
    if (failed) return 4;
    settle();                         // layout, queued replots, the window's own repaint
    const QPixmap painted = tokenView->grab();  // and the token view painted with the new chips for sure
    const qint64 t1 = clock.nsecsElapsed();
    (void)painted;

    const auto o = session.outcome();
    Step s;
    s.lambda = target;
    s.tokens = o->tokenCount();
    s.engineRuns = session.engineRuns() - runsBefore;
    s.total = (t1 - t0) / 1e6;
    s.debounce = (startedAt - t0) / 1e6;
    s.worker = (finishedAt - startedAt) / 1e6;
    s.decode = o->calm.seconds * 1000.0;
    s.ui = (t1 - finishedAt) / 1e6;
    s.chips = streamedAt >= 0 ? (streamedAt - t0) / 1e6 : 0.0;
    results.push_back(s);
    std::printf("%5d %6.2f %6d %5d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", i + 1, s.lambda, s.tokens, s.engineRuns,
                s.total, s.debounce, s.worker, s.decode, s.ui, s.chips);
    std::fflush(stdout);
  }

  const auto column = [&](double Step::*field) {
    std::vector<double> v;
    for (const Step& s : results) v.push_back(s.*field);
    return v;
  };
  std::vector<double> other;
  for (const Step& s : results) other.push_back(s.total - s.decode);
  std::printf("\n%-32s %9s %9s\n", "", "median_ms", "max_ms");
  const auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("%-32s %9.1f %9.1f\n", name, median(v), maximum(v));
  };
  row("total (change -> painted)", column(&Step::total));
  row("  debounce", column(&Step::debounce));
  row("  worker (all engine runs)", column(&Step::worker));
  row("    decode (traced CALM run)", column(&Step::decode));
  row("  ui (result -> painted)", column(&Step::ui));
  row("chips (change -> last streamed)", column(&Step::chips));
  row("decode", column(&Step::decode));
  row("ui = total - decode", other);
  window.close();
  return 0;
}
