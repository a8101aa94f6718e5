// The main window over a real session on the fixture models: one chip per
// token in the colour its exit layer implies, clicking selects, the heat map
// and comparison follow, a bad model directory shows an error in words, a
// cancelled calibration leaves the window usable, settings persist, arrow keys
// move the selection, verify mode marks accepted and corrected tokens and
// shows the rejected drafts, a thresholds file is opened or refused in words.
// Widgets are found by objectName; waits are QSignalSpy / QTRY_*.
#include <QtTest>
#include <QFile>
#include <QImage>
#include <QXmlStreamReader>
#include <set>

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QProgressDialog>
#include <QPushButton>
#include <QSlider>
#include <QStandardItemModel>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <qcustomplot.h>

#include "session/CalibrationData.h"
#include "widgets/CalibrationPanel.h"
#include "plots/CalibrationPlots.h"
#include "plots/ConfidencePlot.h"
#include "plots/ExitColorScale.h"
#include "plots/LayerHeatmap.h"
#include "MainWindow.h"
#include "session/SettingsStore.h"
#include "session/ExamplePrompts.h"
#include "widgets/SliderSpin.h"
#include "session/StudioSession.h"
#include "plots/ThresholdSchedulePlot.h"
#include "widgets/TokenChip.h"
#include "widgets/TokenView.h"
#include "widgets/MeasureComparisonView.h"
#include "session/Playback.h"
#include "widgets/GuidedTour.h"
#include <QToolButton>
#include "calibrate/thresholds.h"
#include "util/hash.h"

using namespace calm::ui;

namespace {

const QString kT5 = QStringLiteral(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
const QString kLlama = QStringLiteral(CALM_FIXTURES_DIR "/models/llama-gqa-untied-f32");
const QString kQwen2 = QStringLiteral(CALM_FIXTURES_DIR "/models/qwen2-style");
const QString kPrompt = QStringLiteral("And God said, Let there be light");
constexpr int kWait = 20000;

QList<TokenChip*> chipsOf(QWidget* window) {
  QList<TokenChip*> chips = window->findChildren<TokenChip*>(QStringLiteral("tokenChip"));
  std::sort(chips.begin(), chips.end(), [](TokenChip* a, TokenChip* b) { return a->tokenIndex() < b->tokenIndex(); });
  return chips;
}

// A window with its own settings file, a loaded model and controls set by hand.
struct Fixture {
  QTemporaryDir dir;
  SettingsStore settings{dir.filePath(QStringLiteral("settings.ini"))};
  StudioSession session;
  MainWindow window{session, settings};

  bool load(const QString& model) {
    QSignalSpy loaded(&session, &StudioSession::modelLoaded);
    session.loadModel(model);
    return loaded.wait(kWait);
  }
  void setLambda(double lambda, calm::Measure measure = calm::Measure::Softmax, int maxNew = 16,
                 bool verify = false) {
    DecodeControls c = session.controls();
    c.verify = verify;
    c.lambdaFromCalibration = false;
    c.lambda = lambda;
    c.measure = measure;
    c.max_new_tokens = maxNew;
    session.setControls(c);
  }
  bool generate(const QString& prompt = kPrompt) {
    auto* edit = window.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"));
    edit->setPlainText(prompt);
    QSignalSpy finished(&session, &StudioSession::outcomeChanged);
    QTest::mouseClick(window.findChild<QPushButton*>(QStringLiteral("generateButton")), Qt::LeftButton);
    return finished.wait(kWait);
  }
};

}  // namespace

class TestUiWindow : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  // Figures for slides: the coloured output as SVG (valid XML that holds the
  // chips' exit colours) and PDF, the plots as SVG, PDF and PNG, and the token
  // table as CSV with one row per token and its exit layer; a bad suffix and a
  // path in a missing directory are refused with the file named.
  void exportsFiguresAndTheTokenTable() {
    Fixture f;
    f.window.resize(1400, 900);
    f.window.show();
    QVERIFY(f.load(kT5));
    QVERIFY(f.window.exportFigure(QStringLiteral("tokens"), f.dir.filePath(QStringLiteral("early.csv"))).contains(QStringLiteral("generate first")));
    f.setLambda(0.5);
    QVERIFY(f.generate());
    const auto outcome = f.session.outcome();
    const int L = outcome->numLayers();
    const auto read = [&](const QString& name) {
      QFile file(f.dir.filePath(name));
      return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    };

    QCOMPARE(f.window.exportFigure(QStringLiteral("output"), f.dir.filePath(QStringLiteral("output.svg"))), QString());
    const QByteArray svg = read(QStringLiteral("output.svg"));
    QXmlStreamReader xml(svg);
    int elements = 0;
    while (!xml.atEnd())
      if (xml.readNext() == QXmlStreamReader::StartElement) ++elements;
    QVERIFY2(!xml.hasError(), qPrintable(xml.errorString()));
    QVERIFY(elements > outcome->tokenCount());
    QVERIFY(svg.contains("<text"));   // vector text, not a picture of it
    QVERIFY(!svg.contains("<image"));
    for (const calm::TokenTrace& t : outcome->calm.trace)  // every chip's colour is drawn
      QVERIFY2(svg.contains(ExitColorScale::forLayer(t.exit_layer, L).name().toLatin1()),
               qPrintable(ExitColorScale::forLayer(t.exit_layer, L).name()));

    for (const QString& what : {QStringLiteral("output"), QStringLiteral("confidence"), QStringLiteral("heatmap"),
                                QStringLiteral("schedule")}) {
      QCOMPARE(f.window.exportFigure(what, f.dir.filePath(what + QStringLiteral(".pdf"))), QString());
      const QByteArray pdf = read(what + QStringLiteral(".pdf"));
      QVERIFY2(pdf.startsWith("%PDF-") && pdf.trimmed().endsWith("%%EOF"), qPrintable(what));
      QCOMPARE(f.window.exportFigure(what, f.dir.filePath(what + QStringLiteral(".png"))), QString());
      QImage png;
      QVERIFY(png.loadFromData(read(what + QStringLiteral(".png")), "PNG"));
      QVERIFY(png.width() > 100 && png.height() > 50);
      if (what != QLatin1String("output")) {
        QCOMPARE(f.window.exportFigure(what, f.dir.filePath(what + QStringLiteral(".svg"))), QString());
        QXmlStreamReader plot(read(what + QStringLiteral(".svg")));
        while (!plot.atEnd()) plot.readNext();
        QVERIFY2(!plot.hasError(), qPrintable(what));
      }
    }

    QCOMPARE(f.window.exportFigure(QStringLiteral("tokens"), f.dir.filePath(QStringLiteral("tokens.csv"))), QString());
    const QStringList rows = QString::fromUtf8(read(QStringLiteral("tokens.csv"))).split(QStringLiteral("\r\n"), Qt::SkipEmptyParts);
    QCOMPARE(rows.size(), outcome->tokenCount() + 1);
    QVERIFY(rows[0].startsWith(QStringLiteral("position,token_id,piece,exit_layer,threshold,exit_confidence,confidence_layer_1")));
    for (int i = 0; i < outcome->tokenCount(); ++i) {
      // The piece may hold a comma (then it is quoted): the exit layer is read after it.
      const QString row = rows[i + 1];
      QVERIFY(row.startsWith(QStringLiteral("%1,%2,").arg(i).arg(outcome->calm.tokens[static_cast<std::size_t>(i)])));
    }

    QVERIFY(f.window.exportFigure(QStringLiteral("output"), f.dir.filePath(QStringLiteral("output.gif"))).contains(QStringLiteral(".svg, .pdf or .png")));
    const QString missing = f.dir.filePath(QStringLiteral("no-such-dir/output.svg"));
    QVERIFY(f.window.exportFigure(QStringLiteral("output"), missing).contains(missing));
  }

  // The playback bar replays the last run: the first press shows step 1 (one
  // grey chip, still undecided, the plot saying so), steps and token jumps
  // move on, playing reaches the whole run in its exit colours, and "Show
  // all" or a new generation leaves the playback.
  void thePlaybackBarStepsThroughTheRun() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.5, calm::Measure::Softmax, 8);
    QVERIFY(f.generate());
    const auto outcome = f.session.outcome();
    const int n = outcome->tokenCount();
    QVERIFY(n >= 2);
    Playback& playback = f.window.playback();
    const auto button = [&](const char* name) {
      auto* b = f.window.findChild<QToolButton*>(QString::fromLatin1(name));
      return b && b->isEnabled() ? b : nullptr;
    };
    QVERIFY(button("playbackStep"));
    QVERIFY(!playback.loaded());
    QTest::mouseClick(button("playbackStep"), Qt::LeftButton);
    QVERIFY(playback.loaded());
    QCOMPARE(playback.position(), 0);
    auto* plot = f.window.findChild<ConfidencePlot*>();
    QList<TokenChip*> chips = chipsOf(&f.window);
    QCOMPARE(chips.size(), 1);
    const int firstExit = outcome->calm.trace[0].exit_layer;
    QCOMPARE(chips[0]->exitLayer(), 0);
    QVERIFY(chips[0]->color() != ExitColorScale::forLayer(firstExit, outcome->numLayers()));
    QCOMPARE(plot->shownToken(), 0);
    auto* narration = f.window.findChild<QLabel*>(QStringLiteral("playbackNarration"));
    QVERIFY(narration->text().startsWith(QStringLiteral("Token 1 of %1, layer 1 of").arg(n)));
    // Step to token 0's exit: its chip takes the exit colour.
    for (int i = 0; i < firstExit; ++i) QTest::mouseClick(button("playbackStep"), Qt::LeftButton);
    QCOMPARE(playback.step().phase, Playback::Phase::Exit);
    chips = chipsOf(&f.window);
    QCOMPARE(chips[0]->exitLayer(), firstExit);
    QCOMPARE(chips[0]->color(), ExitColorScale::forLayer(firstExit, outcome->numLayers()));
    QTest::mouseClick(button("playbackNextToken"), Qt::LeftButton);
    QCOMPARE(playback.step().token, 1);
    QCOMPARE(chipsOf(&f.window).size(), 2);
    QCOMPARE(plot->shownToken(), 1);
    QTest::mouseClick(button("playbackStepBack"), Qt::LeftButton);
    QCOMPARE(playback.step().token, 0);
    // Play to the end at the fastest speed.
    auto* speed = f.window.findChild<QComboBox*>(QStringLiteral("playbackSpeed"));
    speed->setCurrentIndex(speed->count() - 1);
    QCOMPARE(playback.stepsPerSecond(), 16.0);
    QTest::mouseClick(button("playbackPlay"), Qt::LeftButton);
    QVERIFY(playback.playing());
    QTRY_VERIFY_WITH_TIMEOUT(!playback.playing(), 30000);
    QVERIFY(playback.atEnd());
    chips = chipsOf(&f.window);
    QCOMPARE(chips.size(), n);
    for (int i = 0; i < n; ++i) QCOMPARE(chips[i]->exitLayer(), outcome->calm.exit_layers[static_cast<std::size_t>(i)]);
    // Show all leaves it; so does a new generation.
    QTest::mouseClick(f.window.findChild<QToolButton*>(QStringLiteral("playbackShowAll")), Qt::LeftButton);
    QVERIFY(!playback.loaded());
    QCOMPARE(chipsOf(&f.window).size(), n);
    QTest::mouseClick(button("playbackNextToken"), Qt::LeftButton);
    QVERIFY(playback.loaded());
    QVERIFY(f.generate());
    QVERIFY(!playback.loaded());
    // Verify mode has no trace: the bar is disabled and says why.
    f.setLambda(0.5, calm::Measure::Softmax, 8, true);
    QVERIFY(f.generate());
    QVERIFY(!button("playbackStep"));
  }

  // File > Run a JSONL file: the menu entry exists; a run shows a progress
  // dialog with Cancel, then a message with the summary; the window stays usable.
  void aJsonlFileRunsWithProgressAndASummary() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.5, calm::Measure::Softmax, 4);
    QVERIFY(f.window.findChild<QAction*>(QStringLiteral("runBatchAction")));
    const QString input = f.dir.filePath(QStringLiteral("in.jsonl"));
    {
      QFile in(input);
      QVERIFY(in.open(QIODevice::WriteOnly));
      in.write("{\"input\": \"And God said\"}\n{\"input\": \"In the beginning\"}\n");
    }
    QSignalSpy finished(&f.session, &StudioSession::batchFinished);
    f.window.runBatch(input, f.dir.filePath(QStringLiteral("out.jsonl")));
    auto* dialog = f.window.findChild<QProgressDialog*>(QStringLiteral("batchProgress"));
    QVERIFY(dialog);
    QVERIFY(finished.wait(kWait));
    QVERIFY(!dialog->isVisible());
    auto* message = f.window.findChild<QMessageBox*>(QStringLiteral("batchMessage"));
    QVERIFY(message);
    QVERIFY2(message->text().startsWith(QStringLiteral("2 of 2 examples written to")), qPrintable(message->text()));
    QVERIFY(QFile::exists(f.dir.filePath(QStringLiteral("out.jsonl"))));
  }

  // Help > Guided tour: every step points at a panel that exists and is on
  // screen when its step shows (its tab brought forward), with the bubble
  // beside it; Next, Back, Finish and Esc do what they say.
  void theGuidedTourPointsAtEachPanelInTurn() {
    Fixture f;
    f.window.resize(1500, 950);
    f.window.show();
    QVERIFY(f.load(kT5));
    QAction* action = f.window.findChild<QAction*>(QStringLiteral("tourAction"));
    QVERIFY(action);
    action->trigger();
    GuidedTour* tour = f.window.tour();
    QVERIFY(tour && tour->isVisible());
    const std::vector<TourStep> steps = tourSteps();
    QCOMPARE(tour->stepCount(), static_cast<int>(steps.size()));
    QVERIFY(tour->stepCount() >= 8);
    auto* next = tour->findChild<QPushButton*>(QStringLiteral("tourNext"));
    auto* back = tour->findChild<QPushButton*>(QStringLiteral("tourBack"));
    for (int i = 0; i < tour->stepCount(); ++i) {
      QCOMPARE(tour->current(), i);
      QWidget* target = tour->target();
      QVERIFY2(target, qPrintable(steps[static_cast<std::size_t>(i)].target));
      QCOMPARE(target->objectName(), steps[static_cast<std::size_t>(i)].target);
      QVERIFY2(target->isVisible(), qPrintable(target->objectName()));
      QVERIFY(tour->bubbleText().startsWith(steps[static_cast<std::size_t>(i)].title));
      QVERIFY(!steps[static_cast<std::size_t>(i)].text.isEmpty());
      QCOMPARE(back->isEnabled(), i > 0);
      if (i + 1 < tour->stepCount()) QTest::mouseClick(next, Qt::LeftButton);
    }
    QCOMPARE(next->text(), QStringLiteral("Finish"));
    QTest::mouseClick(back, Qt::LeftButton);
    QCOMPARE(tour->current(), tour->stepCount() - 2);
    QTest::mouseClick(next, Qt::LeftButton);
    QSignalSpy finished(tour, &GuidedTour::finished);
    QTest::mouseClick(next, Qt::LeftButton);  // Finish
    QCOMPARE(finished.count(), 1);
    QVERIFY(!tour->isVisible());
    action->trigger();  // again from the start; Esc closes
    QCOMPARE(tour->current(), 0);
    QVERIFY(tour->isVisible());
    QTest::keyClick(tour, Qt::Key_Escape);
    QVERIFY(!tour->isVisible());
  }

  // The Measures tab: a row per measure with its chips, one per token.
  void theMeasuresTabComparesTheMeasures() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.6);
    f.window.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"))->setPlainText(kPrompt);
    auto* view = f.window.findChild<MeasureComparisonView*>(QStringLiteral("measureComparison"));
    QVERIFY(view);
    QSignalSpy finished(&f.session, &StudioSession::measureComparisonFinished);
    QTest::mouseClick(view->findChild<QPushButton*>(QStringLiteral("compareMeasuresButton")), Qt::LeftButton);
    QVERIFY(finished.wait(kWait));
    const auto& runs = f.session.measureRuns();
    QCOMPARE(view->rowCount(), static_cast<int>(runs.size()));
    for (int i = 0; i < view->rowCount(); ++i) {
      QCOMPARE(view->tokensOf(i)->chipCount(), static_cast<int>(runs[static_cast<std::size_t>(i)].result.tokens.size()));
      const bool oracle = runs[static_cast<std::size_t>(i)].oracle;
      QCOMPARE(oracle, i == view->rowCount() - 1);
      QVERIFY(view->summaryOf(i)->text().contains(oracle ? QStringLiteral("Local oracle")
                                                         : QStringLiteral("λ = 0.60 (hand-set)")));
    }
  }

  void oneChipPerTokenInItsExitColour_data() {
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("measure");
    QTest::addColumn<double>("lambda");
    QTest::newRow("t5 softmax") << kT5 << int(calm::Measure::Softmax) << 0.0;
    QTest::newRow("t5 state") << kT5 << int(calm::Measure::State) << 0.9;
    QTest::newRow("t5 classifier") << kT5 << int(calm::Measure::Classifier) << 0.5;
    QTest::newRow("llama state") << kLlama << int(calm::Measure::State) << 0.9;
    QTest::newRow("llama full") << kLlama << int(calm::Measure::Softmax) << 1.0;
  }

  void oneChipPerTokenInItsExitColour() {
    QFETCH(QString, model);
    QFETCH(int, measure);
    QFETCH(double, lambda);
    Fixture f;
    f.window.show();
    QVERIFY(f.load(model));
    f.setLambda(lambda, static_cast<calm::Measure>(measure));
    QVERIFY(f.generate());
    const auto outcome = f.session.outcome();
    QVERIFY(outcome);
    const int L = outcome->numLayers();
    const QList<TokenChip*> chips = chipsOf(&f.window);
    QCOMPARE(chips.size(), outcome->tokenCount());
    QVERIFY(!chips.isEmpty());
    QSet<int> layers;
    for (int i = 0; i < chips.size(); ++i) {
      const calm::TokenTrace& t = outcome->calm.trace[static_cast<std::size_t>(i)];
      QCOMPARE(chips[i]->tokenIndex(), i);
      QCOMPARE(chips[i]->exitLayer(), t.exit_layer);
      QCOMPARE(chips[i]->color(), ExitColorScale::forLayer(t.exit_layer, L));
      QVERIFY(!chips[i]->toolTip().isEmpty());
      QVERIFY(chips[i]->toolTip().contains(QStringLiteral("Top-3")));
      layers.insert(t.exit_layer);
    }
    if (lambda >= 1.0) QCOMPARE(layers, QSet<int>{L});  // the full model: every chip red
    // The colour scale runs from green (layer 1) to red (layer L).
    QVERIFY(ExitColorScale::forLayer(1, L).green() > ExitColorScale::forLayer(1, L).red());
    QVERIFY(ExitColorScale::forLayer(L, L).red() > ExitColorScale::forLayer(L, L).green());
    // The heat map shows tokens x layers.
    auto* heatmap = f.window.findChild<LayerHeatmap*>(QStringLiteral("layerHeatmap"));
    QVERIFY(heatmap);
    auto* map = qobject_cast<QCPColorMap*>(heatmap->plot()->plottable(0));
    QVERIFY(map);
    QCOMPARE(map->data()->keySize(), outcome->tokenCount());
    QCOMPARE(map->data()->valueSize(), L);
  }

  void theFixturesGiveMixedExits() {
    // Not every run above may mix layers; this one does, so colours are really compared.
    Fixture f;
    QVERIFY(f.load(kT5));
    f.setLambda(0.9, calm::Measure::State, 24);
    QVERIFY(f.generate());
    QSet<int> layers;
    for (TokenChip* chip : chipsOf(&f.window)) layers.insert(chip->exitLayer());
    QVERIFY2(layers.size() >= 2, "expected tokens leaving at different layers");
    QSet<QRgb> colours;
    for (TokenChip* chip : chipsOf(&f.window)) colours.insert(chip->color().rgb());
    QCOMPARE(colours.size(), layers.size());
  }

  void clickingAChipSelectsIt() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.5);
    QVERIFY(f.generate());
    const QList<TokenChip*> chips = chipsOf(&f.window);
    QVERIFY(chips.size() >= 3);
    QTest::mouseClick(chips[2], Qt::LeftButton);
    QVERIFY(chips[2]->isSelected());
    QVERIFY(!chips[0]->isSelected());
    auto* plot = f.window.findChild<ConfidencePlot*>(QStringLiteral("confidencePlot"));
    QCOMPARE(plot->shownToken(), 2);
    QCOMPARE(plot->labelCount(), f.session.outcome()->numLayers());  // the top-1 token of every layer
    auto* view = f.window.findChild<TokenView*>(QStringLiteral("tokenView"));
    QCOMPARE(view->selected(), 2);
  }

  void arrowKeysMoveTheSelection() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.5);
    QVERIFY(f.generate());
    auto* view = f.window.findChild<TokenView*>(QStringLiteral("tokenView"));
    auto* plot = f.window.findChild<ConfidencePlot*>(QStringLiteral("confidencePlot"));
    QVERIFY(view && plot);
    QCOMPARE(view->focusPolicy(), Qt::StrongFocus);
    const QList<TokenChip*> chips = chipsOf(&f.window);
    const int n = static_cast<int>(chips.size());
    QVERIFY(n >= 3);
    QTest::mouseClick(chips[1], Qt::LeftButton);
    QCOMPARE(view->selected(), 1);
    QTest::keyClick(view, Qt::Key_Right);
    QCOMPARE(view->selected(), 2);
    QVERIFY(chips[2]->isSelected());
    QVERIFY(!chips[1]->isSelected());
    QCOMPARE(plot->shownToken(), 2);  // the plot follows, as for a click
    QTest::keyClick(view, Qt::Key_Left);
    QTest::keyClick(view, Qt::Key_Left);
    QCOMPARE(view->selected(), 0);
    QTest::keyClick(view, Qt::Key_Left);  // stays at the first
    QCOMPARE(view->selected(), 0);
    QTest::keyClick(view, Qt::Key_End);
    QCOMPARE(view->selected(), n - 1);
    QCOMPARE(plot->shownToken(), n - 1);
    QTest::keyClick(view, Qt::Key_Right);  // stays at the last
    QCOMPARE(view->selected(), n - 1);
    QTest::keyClick(view, Qt::Key_Home);
    QCOMPARE(view->selected(), 0);
    QCOMPARE(plot->shownToken(), 0);
    auto* heatmap = f.window.findChild<LayerHeatmap*>(QStringLiteral("layerHeatmap"));
    QVERIFY(heatmap->message().isEmpty());
  }

  void verifyModeMarksAcceptedAndCorrectedTokens() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.0, calm::Measure::Softmax, 24);
    QVERIFY(f.generate());  // CALM first: the plots show a trace
    auto* plot = f.window.findChild<ConfidencePlot*>(QStringLiteral("confidencePlot"));
    auto* heatmap = f.window.findChild<LayerHeatmap*>(QStringLiteral("layerHeatmap"));
    QVERIFY(plot->message().isEmpty());

    // The mode combo switches to verify mode: the draft length comes alive and
    // the per-layer views say why they are empty instead of showing stale data.
    auto* mode = f.window.findChild<QComboBox*>(QStringLiteral("modeBox"));
    auto* draft = f.window.findChild<QSpinBox*>(QStringLiteral("draftSpin"));
    QVERIFY(mode && draft);
    QVERIFY(!draft->isEnabled());
    QCOMPARE(draft->value(), 4);
    f.session.setDebounceInterval(60000);  // no automatic re-decode: the test generates
    mode->setCurrentIndex(mode->findText(QStringLiteral("Verify (lossless)")));
    QVERIFY(f.session.controls().verify);
    QVERIFY(draft->isEnabled());
    QVERIFY2(plot->message().contains(QStringLiteral("per-layer traces are shown in CALM mode")),
             qPrintable(plot->message()));
    QVERIFY(heatmap->message().contains(QStringLiteral("Verify mode")));

    QVERIFY(f.generate());
    const auto o = f.session.outcome();
    QVERIFY(o->isVerify());
    QCOMPARE(o->calm.tokens, o->full.tokens);
    auto* view = f.window.findChild<TokenView*>(QStringLiteral("tokenView"));
    const QList<TokenChip*> chips = chipsOf(&f.window);
    QCOMPARE(chips.size(), o->tokenCount());
    int corrected = 0;
    for (int i = 0; i < chips.size(); ++i) {
      const calm::TokenTrace& t = o->calm.trace[static_cast<std::size_t>(i)];
      QCOMPARE(chips[i]->verifyMark(), t.verified ? TokenChip::VerifyMark::Accepted : TokenChip::VerifyMark::Corrected);
      QCOMPARE(chips[i]->color(), ExitColorScale::forLayer(t.exit_layer, o->numLayers()));
      auto* ghost = view->rejectedBefore(i);
      if (t.verified) {
        QVERIFY(!ghost);
        QVERIFY(chips[i]->toolTip().contains(QStringLiteral("Accepted")));
        continue;
      }
      ++corrected;
      QVERIFY(ghost);
      QVERIFY(ghost->isVisible());
      QVERIFY2(ghost->toolTip().contains(QStringLiteral("rejected</b>: the full model predicts")),
               qPrintable(ghost->toolTip()));
      QVERIFY(!ghost->label().isEmpty());
      // Right before its correction.
      QVERIFY(ghost->geometry().right() <= chips[i]->geometry().left() || ghost->geometry().top() < chips[i]->geometry().top());
    }
    QVERIFY(corrected > 0);
    QCOMPARE(f.window.findChildren<RejectedDraftChip*>().size(), corrected);
    QVERIFY(f.window.findChild<QLabel*>(QStringLiteral("verifyLegend"))->isVisible());
    auto* status = f.window.findChild<QLabel*>(QStringLiteral("runStatus"));
    QVERIFY2(status->text().contains(QStringLiteral("drafts accepted")) &&
                 status->text().contains(QStringLiteral("tokens per verification pass")) &&
                 status->text().contains(QStringLiteral("for the full model")),
             qPrintable(status->text()));
    // Selecting a token keeps the explanation; the heat map has no stale map.
    QTest::mouseClick(chips[1], Qt::LeftButton);
    QCOMPARE(view->selected(), 1);
    QVERIFY(plot->message().contains(QStringLiteral("Verify mode")));
    QCOMPARE(plot->shownToken(), -1);
    auto* map = qobject_cast<QCPColorMap*>(heatmap->plot()->plottable(0));
    QVERIFY(!map->visible());
    auto* stats = f.window.findChild<QLabel*>(QStringLiteral("comparisonStats"));
    QVERIFY(stats->text().contains(QStringLiteral("Drafts accepted")));

    // Back to CALM: chips lose their marks, the traces come back.
    mode->setCurrentIndex(mode->findText(QStringLiteral("CALM (propagate)")));
    QVERIFY(!f.session.controls().verify);
    QVERIFY(f.generate());
    QVERIFY(f.window.findChildren<RejectedDraftChip*>().isEmpty());
    for (TokenChip* chip : chipsOf(&f.window)) QCOMPARE(chip->verifyMark(), TokenChip::VerifyMark::None);
    QVERIFY(plot->message().isEmpty());
    QVERIFY(heatmap->message().isEmpty());
    QVERIFY(!f.window.findChild<QLabel*>(QStringLiteral("verifyLegend"))->isVisible());
  }

  void theGateControls() {
    Fixture f;
    QVERIFY(f.load(QStringLiteral(CALM_FIXTURES_DIR "/models/t5-relu-tied")));  // no classifier head
    auto* gate = f.window.findChild<QComboBox*>(QStringLiteral("gateBox"));
    auto* threshold = f.window.findChild<QDoubleSpinBox*>(QStringLiteral("gateThresholdSpin"));
    QVERIFY(gate && threshold);
    auto* items = qobject_cast<QStandardItemModel*>(gate->model());
    QVERIFY(!items->item(gate->findData(int(calm::Gate::Classifier)))->isEnabled());
    QVERIFY(items->item(gate->findData(int(calm::Gate::State)))->isEnabled());
    QCOMPARE(threshold->value(), 0.9);
    QVERIFY(!threshold->isEnabled());  // no gate yet
    gate->setCurrentIndex(gate->findData(int(calm::Gate::State)));
    QCOMPARE(f.session.controls().gate, calm::Gate::State);
    QVERIFY(threshold->isEnabled());
    threshold->setValue(0.85);
    QCOMPARE(f.session.controls().gate_threshold, 0.85);
    QCOMPARE(f.session.decodeOptions().gate, calm::Gate::State);
    QCOMPARE(f.session.decodeOptions().gate_threshold, 0.85);
    QCOMPARE(f.settings.controls().gate, calm::Gate::State);  // remembered
  }

  // The repetition remedies: two controls in the Generation group, passed to
  // both runs (CALM and the full model it is compared with) and remembered;
  // the output then repeats no bigram of the decoder's sequence.
  void theRepetitionControls() {
    Fixture f;
    QVERIFY(f.load(kLlama));
    f.setLambda(0.5, calm::Measure::Softmax, 24);
    auto* penalty = f.window.findChild<QDoubleSpinBox*>(QStringLiteral("repetitionPenaltySpin"));
    auto* ngram = f.window.findChild<QSpinBox*>(QStringLiteral("noRepeatNgramSpin"));
    QVERIFY(penalty && ngram);
    QCOMPARE(penalty->value(), 1.0);
    QCOMPARE(ngram->value(), 0);
    QCOMPARE(ngram->text(), QStringLiteral("off"));
    penalty->setValue(1.3);
    ngram->setValue(2);
    QCOMPARE(f.session.controls().repetition_penalty, 1.3);
    QCOMPARE(f.session.controls().no_repeat_ngram, 2);
    QCOMPARE(f.settings.controls().repetition_penalty, 1.3);  // remembered
    QCOMPARE(f.settings.controls().no_repeat_ngram, 2);
    QVERIFY(f.generate());
    const auto outcome = f.session.outcome();
    QVERIFY(outcome);
    QCOMPARE(outcome->options.repetition_penalty, 1.3);
    QCOMPARE(outcome->options.no_repeat_ngram, 2);
    for (const calm::DecodeResult* r : {&outcome->calm, &outcome->full}) {
      std::vector<int> seq = r->prompt_ids;  // decoder-only: the prompt counts
      seq.insert(seq.end(), r->tokens.begin(), r->tokens.end());
      std::set<std::pair<int, int>> bigrams;
      for (std::size_t i = 0; i + 1 < seq.size(); ++i)
        QVERIFY2(bigrams.insert({seq[i], seq[i + 1]}).second, qPrintable(QStringLiteral("bigram at %1").arg(i)));
    }
  }

  void openingThresholdsFiles() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    // A broken one: an error naming the file, in a dialog and the status bar; lambda stays.
    const QString broken = f.dir.filePath(QStringLiteral("not-thresholds.json"));
    QFile file(broken);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("[1, 2");
    file.close();
    const double before = f.session.lambda();
    const ThresholdsLoad refused = f.window.openThresholds(broken);
    QVERIFY(!refused.applied);
    QCOMPARE(f.session.lambda(), before);
    QMessageBox* box = nullptr;
    QTRY_VERIFY((box = f.window.findChild<QMessageBox*>(QStringLiteral("thresholdsMessage"))) != nullptr);
    QVERIFY2(box->text().contains(QStringLiteral("not-thresholds.json")), qPrintable(box->text()));
    QCOMPARE(box->icon(), QMessageBox::Critical);
    QVERIFY(f.window.statusBar()->currentMessage().contains(QStringLiteral("not-thresholds.json")));
    box->close();
    QTRY_VERIFY(!f.window.findChild<QMessageBox*>(QStringLiteral("thresholdsMessage")));

    // A good one: the controls take its values; the status bar and the λ line say where λ comes from.
    calm::Thresholds t;
    t.model_name = "t5-gated-untied-f32";
    t.model_dir = kT5.toStdString();
    t.model_hash = calm::file_hash(kT5.toStdString() + "/model.safetensors");
    t.lambda = 0.35;
    t.tau = 3.0;
    t.delta = 0.25;
    t.epsilon = 0.05;
    t.measure = calm::Measure::SoftmaxMax;
    t.first_exit_layer = 2;
    t.max_new_tokens = 16;
    t.data_path = "set.jsonl";
    t.data_hash = "0123456789abcdef";
    t.examples = 5;
    t.created = calm::iso8601_utc_now();
    const QString good = f.dir.filePath(QStringLiteral("t5-thresholds.json"));
    calm::write_thresholds(t, good.toStdString());
    const ThresholdsLoad load = f.window.openThresholds(good);
    QVERIFY2(load.applied, qPrintable(load.error));
    QCOMPARE(f.session.lambda(), 0.35);
    const QString message = f.window.statusBar()->currentMessage();
    QVERIFY2(message.contains(QStringLiteral("from t5-thresholds.json")) && message.contains(QStringLiteral("δ = 0.25")),
             qPrintable(message));
    auto* inForce = f.window.findChild<QLabel*>(QStringLiteral("lambdaInForce"));
    QVERIFY2(inForce->text().contains(QStringLiteral("t5-thresholds.json")), qPrintable(inForce->text()));
    QCOMPARE(f.window.findChild<QSpinBox*>(QStringLiteral("firstExitSpin"))->value(), 2);
    QCOMPARE(f.window.findChild<QComboBox*>(QStringLiteral("measureBox"))->currentData().toInt(),
             int(calm::Measure::SoftmaxMax));
    QVERIFY(!f.window.findChild<QMessageBox*>(QStringLiteral("thresholdsMessage")));  // no warning: same model
    QCOMPARE(f.settings.controls().lambda, 0.35);
    // The panel keeps λ exact until the user moves it (the spin box shows two decimals).
    f.session.setControls([&] {
      DecodeControls c = f.session.controls();
      c.lambda = 0.725;
      return c;
    }());
    auto* tau = f.window.findChild<SliderSpin*>(QStringLiteral("tauControl"));
    tau->spinBox()->setValue(3.5);
    QCOMPARE(f.session.controls().tau, 3.5);
    QCOMPARE(f.session.controls().lambda, 0.725);
    // The calibration tab has the button, File the menu action.
    QVERIFY(f.window.findChild<QPushButton*>(QStringLiteral("openThresholdsButton")));
    QVERIFY(f.window.findChild<QAction*>(QStringLiteral("openThresholdsAction")));
  }

  void ctrlEnterGenerates() {
    Fixture f;
    f.window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&f.window));
    QVERIFY(f.load(kLlama));
    f.setLambda(0.5);
    auto* edit = f.window.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"));
    edit->setPlainText(kPrompt);
    edit->setFocus();
    QSignalSpy finished(&f.session, &StudioSession::generationFinished);
    QTest::keyClick(edit, Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(finished.wait(kWait));
    QCOMPARE(f.session.prompt(), kPrompt);
  }

  void theComparisonShowsBothOutputs() {
    Fixture f;
    QVERIFY(f.load(kT5));
    f.setLambda(0.0);
    QVERIFY(f.generate());
    auto* full = f.window.findChild<QTextBrowser*>(QStringLiteral("fullText"));
    auto* calmText = f.window.findChild<QTextBrowser*>(QStringLiteral("calmText"));
    auto* stats = f.window.findChild<QLabel*>(QStringLiteral("comparisonStats"));
    QVERIFY(full && calmText && stats);
    QVERIFY(!full->toPlainText().isEmpty());
    QVERIFY(!calmText->toPlainText().isEmpty());
    QVERIFY(stats->text().contains(QStringLiteral("Average layers")));
    QVERIFY(stats->text().contains(QStringLiteral("Measured speedup")));
    auto* schedule = f.window.findChild<ThresholdSchedulePlot*>(QStringLiteral("schedulePlot"));
    QCOMPARE(schedule->pointCount(), f.session.controls().max_new_tokens);
  }

  // The panel says what was loaded, warns about a model not trained for early
  // exit (and not about one that was), and reloads in the weights type chosen.
  void theModelPanelShowsWhatWasLoaded() {
    Fixture f;
    f.window.show();
    auto* info = f.window.findChild<QLabel*>(QStringLiteral("modelInfo"));
    auto* note = f.window.findChild<QLabel*>(QStringLiteral("exitTrainingNote"));
    auto* weights = f.window.findChild<QComboBox*>(QStringLiteral("weightsBox"));
    QVERIFY(info && note && weights);
    QCOMPARE(weights->count(), 5);
    QCOMPARE(weights->currentData().toString(), QString("auto"));
    QVERIFY(f.load(kQwen2));
    for (const char* text : {"qwen2: q/k/v biases", "Stored as", "bf16, ", "SentencePiece", "3 decoder layers"})
      QVERIFY2(info->text().contains(QString::fromUtf8(text).toHtmlEscaped()), qPrintable(info->text()));
    QTRY_VERIFY(note->isVisible());
    QVERIFY(note->text().contains(QStringLiteral("Not trained for early exit")));

    QSignalSpy loaded(&f.session, &StudioSession::modelLoaded);
    weights->setCurrentIndex(weights->findData(QStringLiteral("q8")));
    emit weights->activated(weights->currentIndex());  // as a user's choice does
    QVERIFY(loaded.wait(kWait));
    QCOMPARE(f.session.weightType(), QString("q8"));
    QVERIFY(f.session.modelDir().endsWith(QStringLiteral("qwen2-style")));
    QVERIFY2(info->text().contains(QStringLiteral("q8, ")), qPrintable(info->text()));

    QVERIFY(f.load(kT5));  // has CALM's classifier head: trained for early exit
    QVERIFY(info->text().contains(QStringLiteral("t5: gated-gelu")));
    QTRY_VERIFY(!note->isVisible());
  }

  // The Cancel button stops a load; the model before stays and the panel says so.
  void cancellingALoadKeepsThePreviousModel() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    auto* cancel = f.window.findChild<QPushButton*>(QStringLiteral("cancelLoadButton"));
    auto* progress = f.window.findChild<QProgressBar*>(QStringLiteral("modelLoadProgress"));
    QVERIFY(cancel && progress);
    QVERIFY(!cancel->isVisible());
    QSignalSpy cancelled(&f.session, &StudioSession::modelLoadCancelled);
    // The window shows the progress row when the load starts (it connected
    // first); the click comes right after, before the worker's first step.
    const auto connection = connect(&f.session, &StudioSession::modelLoading, &f.window, [&] {
      QVERIFY(cancel->isVisible() && cancel->isEnabled() && progress->isVisible());
      QTest::mouseClick(cancel, Qt::LeftButton);
    }, Qt::DirectConnection);
    f.session.loadModel(kQwen2);
    disconnect(connection);
    QVERIFY(cancelled.wait(kWait));
    QTRY_VERIFY(!progress->isVisible());
    auto* error = f.window.findChild<QLabel*>(QStringLiteral("modelError"));
    QTRY_VERIFY(error->isVisible());
    QVERIFY2(error->text().contains(QStringLiteral("cancelled")), qPrintable(error->text()));
    QVERIFY(f.session.modelDir().endsWith(QStringLiteral("t5-gated-untied-f32")));
    f.setLambda(0.5);
    QVERIFY(f.generate());
  }

  void aBadModelDirectoryShowsAnError() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    QSignalSpy failed(&f.session, &StudioSession::modelFailed);
    f.session.loadModel(QStringLiteral("/no/such/model-dir"));
    QVERIFY(failed.wait(kWait));
    auto* error = f.window.findChild<QLabel*>(QStringLiteral("modelError"));
    QVERIFY(error);
    QTRY_VERIFY(error->isVisible());
    QVERIFY2(error->text().contains(QStringLiteral("model-dir")), qPrintable(error->text()));
    QVERIFY(error->text().contains(QStringLiteral("Still using")));
    // Still usable with the previous model.
    f.setLambda(0.5);
    QVERIFY(f.generate());
    QVERIFY(!chipsOf(&f.window).isEmpty());
  }

  void aCancelledCalibrationLeavesTheWindowUsable() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    // A long set, so that Cancel arrives mid-run.
    const QString set = f.dir.filePath(QStringLiteral("long.jsonl"));
    QFile file(set);
    QVERIFY(file.open(QIODevice::WriteOnly));
    for (int i = 0; i < 500; ++i) file.write("{\"input\": \"And God said, Let there be light\", \"reference\": \"x\"}\n");
    file.close();
    auto* panel = f.window.findChild<CalibrationPanel*>(QStringLiteral("calibrationPanel"));
    QVERIFY(panel);
    panel->addSet(set);  // what choosing the file in the dialog does
    QCOMPARE(panel->currentSet(), set);
    auto* examples = f.window.findChild<QSpinBox*>(QStringLiteral("calibrationExamples"));
    examples->setValue(0);
    auto* run = f.window.findChild<QPushButton*>(QStringLiteral("calibrateButton"));
    auto* cancel = f.window.findChild<QPushButton*>(QStringLiteral("calibrationCancelButton"));
    QSignalSpy progress(&f.session.calibrator(), &CalibrationController::progress);
    QSignalSpy cancelled(&f.session.calibrator(), &CalibrationController::cancelled);
    QTest::mouseClick(run, Qt::LeftButton);
    QVERIFY(progress.wait(kWait));
    QVERIFY(cancel->isEnabled());
    QVERIFY(!run->isEnabled());
    QTest::mouseClick(cancel, Qt::LeftButton);
    QVERIFY(cancelled.wait(kWait));
    QTRY_VERIFY(run->isEnabled());
    QVERIFY(!cancel->isEnabled());
    auto* status = f.window.findChild<QLabel*>(QStringLiteral("calibrationStatus"));
    QVERIFY(status->text().contains(QStringLiteral("cancelled")));
    // The rest of the window still works.
    f.setLambda(0.5);
    QVERIFY(f.generate());
  }

  // While the lambda slider is dragged the re-decode waits for the debounce;
  // releasing it (or confirming a typed value) starts it at once.
  void lettingGoOfLambdaRedecodesAtOnce() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    f.setLambda(0.5);
    QVERIFY(f.generate());
    f.session.setDebounceInterval(60000);  // only letting go can start a run now
    auto* lambda = f.window.findChild<SliderSpin*>(QStringLiteral("lambdaControl"));
    QVERIFY(lambda && lambda->isEnabled());
    QSignalSpy started(&f.session, &StudioSession::generationStarted);
    QSignalSpy outcome(&f.session, &StudioSession::outcomeChanged);

    QSlider* slider = lambda->slider();
    slider->setSliderDown(true);
    slider->setSliderPosition(40);
    slider->setSliderPosition(30);
    QCOMPARE(f.session.controls().lambda, 0.30);
    QVERIFY(f.session.redecodePending());
    QCOMPARE(started.count(), 0);  // still dragging
    slider->setSliderDown(false);
    QCOMPARE(started.count(), 1);
    QVERIFY(!f.session.redecodePending());
    QVERIFY(outcome.wait(kWait));
    QCOMPARE(f.session.outcome()->options.lambda, 0.30);

    QDoubleSpinBox* spin = lambda->spinBox();
    spin->setFocus();
    spin->selectAll();
    QTest::keyClicks(spin, QStringLiteral("0.65"));
    QCOMPARE(started.count(), 1);  // typing alone changes nothing
    QTest::keyClick(spin, Qt::Key_Return);
    QCOMPARE(started.count(), 2);
    QTRY_COMPARE_WITH_TIMEOUT(outcome.count(), 2, kWait);
    QCOMPARE(f.session.outcome()->options.lambda, 0.65);
  }

  void movingDeltaUpdatesLambdaWithoutTheEngine() {
    Fixture f;
    f.window.show();
    QVERIFY(f.load(kT5));
    // A small real calibration, then the delta slider.
    const QString set = f.dir.filePath(QStringLiteral("cal.jsonl"));
    QFile file(set);
    QVERIFY(file.open(QIODevice::WriteOnly));
    for (const char* s : {"And God said", "Let there be light", "and there was light", "the evening and the morning"})
      file.write(QStringLiteral("{\"input\": \"%1\"}\n").arg(QLatin1String(s)).toUtf8());
    file.close();
    DecodeControls c = f.session.controls();
    c.max_new_tokens = 8;
    c.lambdaFromCalibration = true;
    f.session.setControls(c);
    QSignalSpy finished(&f.session.calibrator(), &CalibrationController::finished);
    f.session.startCalibration(set, 0, 0.1);
    QVERIFY(finished.wait(kWait));
    auto* summary = f.window.findChild<QLabel*>(QStringLiteral("calibrationSummary"));
    QTRY_VERIFY(summary->text().contains(QStringLiteral("λ")));
    const int runs = f.session.engineRuns();
    auto* delta = f.window.findChild<SliderSpin*>(QStringLiteral("deltaControl"));
    QVERIFY(delta);
    QSignalSpy calibrationChanged(&f.session, &StudioSession::calibrationChanged);
    delta->spinBox()->setValue(0.3);
    QVERIFY(calibrationChanged.count() >= 1);
    QCOMPARE(f.session.controls().delta, 0.3);
    QCOMPARE(f.session.calibrationResult()->delta, 0.3);
    QCOMPARE(f.session.engineRuns(), runs);
    auto* inForce = f.window.findChild<QLabel*>(QStringLiteral("lambdaInForce"));
    QVERIFY(inForce->text().contains(QString::number(f.session.lambda(), 'f', 3)));
    // Conformal risk control from the Method box: the same losses, no epsilon
    // (its control is disabled), its guarantee and the monotonicity check stated.
    auto* method = f.window.findChild<QComboBox*>(QStringLiteral("methodBox"));
    QVERIFY(method);
    auto* epsilon = f.window.findChild<SliderSpin*>(QStringLiteral("epsilonControl"));
    QVERIFY(epsilon->isEnabled());
    method->setCurrentIndex(method->findData(int(calm::CalibrationMethod::Crc)));
    QCOMPARE(f.session.controls().method, calm::CalibrationMethod::Crc);
    QCOMPARE(f.session.calibrationResult()->method, calm::CalibrationMethod::Crc);
    QVERIFY(!epsilon->isEnabled());
    QTRY_VERIFY(summary->text().contains(QStringLiteral("conformal risk control")));
    QVERIFY2(summary->text().contains(QStringLiteral("Conformal risk control: the expected loss")),
             qPrintable(summary->text()));
    QVERIFY(summary->text().contains(QStringLiteral("onotone")));  // "Monotone: ..." or "Not monotone"
    auto* plots = f.window.findChild<CalibrationPlots*>(QStringLiteral("calibrationPlots"));
    QCOMPARE(plots->pValuePlot()->yAxis->scaleType(), QCPAxis::stLinear);
    QCOMPARE(f.session.engineRuns(), runs);
    method->setCurrentIndex(method->findData(int(calm::CalibrationMethod::Wsr)));
    QVERIFY(epsilon->isEnabled());
    QCOMPARE(plots->pValuePlot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
  }

  void settingsPersist() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("persist.ini"));
    {
      SettingsStore settings(path);
      StudioSession session;
      MainWindow window(session, settings);
      QSignalSpy loaded(&session, &StudioSession::modelLoaded);
      session.loadModel(kLlama);
      QVERIFY(loaded.wait(kWait));
      auto* delta = window.findChild<SliderSpin*>(QStringLiteral("deltaControl"));
      delta->spinBox()->setValue(0.22);
      auto* tau = window.findChild<SliderSpin*>(QStringLiteral("tauControl"));
      tau->spinBox()->setValue(2.5);
      window.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"))->setPlainText(QStringLiteral("remember me"));
      window.close();
    }
    SettingsStore settings(path);
    QCOMPARE(settings.controls().delta, 0.22);
    QCOMPARE(settings.controls().tau, 2.5);
    QCOMPARE(settings.prompt(), QStringLiteral("remember me"));
    QVERIFY(settings.modelDir().endsWith(QStringLiteral("llama-gqa-untied-f32")));
    QVERIFY(!settings.windowGeometry().isEmpty());
    StudioSession session;
    MainWindow window(session, settings);
    QSignalSpy loaded(&session, &StudioSession::modelLoaded);
    window.restore();
    QVERIFY(loaded.wait(kWait));
    QVERIFY(session.modelDir().endsWith(QStringLiteral("llama-gqa-untied-f32")));
    QCOMPARE(session.controls().delta, 0.22);
    QCOMPARE(session.prompt(), QStringLiteral("remember me"));
    QCOMPARE(window.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"))->toPlainText(),
             QStringLiteral("remember me"));
  }

  // A first start (no remembered prompt): the first bundled model loads and
  // its first example is decoded at once, so the window opens on a result;
  // a remembered prompt is left alone (the test above).
  void aFirstStartOpensOnADecodedExample() {
    QTemporaryDir dir;
    SettingsStore settings(dir.filePath(QStringLiteral("settings.ini")));
    StudioSession session;
    MainWindow window(session, settings);
    window.restore();
    QTRY_VERIFY_WITH_TIMEOUT(session.outcome() != nullptr, kWait);
    const auto examples = ExamplePrompts::forModel(QFileInfo(session.modelDir()).fileName());
    QVERIFY(!examples.isEmpty());
    QCOMPARE(session.prompt(), examples.front().input);
    QCOMPARE(window.findChild<QPlainTextEdit*>(QStringLiteral("promptEdit"))->toPlainText(), examples.front().input);
    QVERIFY(session.outcome()->tokenCount() > 0);
    QVERIFY(session.lambdaIsCalibrated());  // and calibrated from the first second
  }
};

QTEST_MAIN(TestUiWindow)
#include "test_ui_window.moc"
