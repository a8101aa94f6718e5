// The main window over a real session on the fixture models: one chip per
// token in the colour its exit layer implies, clicking selects, the heat map
// and comparison follow, a bad model directory shows an error in words, a
// cancelled calibration leaves the window usable, settings persist.
// Widgets are found by objectName; waits are QSignalSpy / QTRY_*.
#include <QtTest>

#include <QComboBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <qcustomplot.h>

#include "CalibrationData.h"
#include "CalibrationPanel.h"
#include "ConfidencePlot.h"
#include "ExitColorScale.h"
#include "LayerHeatmap.h"
#include "MainWindow.h"
#include "SettingsStore.h"
#include "SliderSpin.h"
#include "StudioSession.h"
#include "ThresholdSchedulePlot.h"
#include "TokenChip.h"
#include "TokenView.h"

using namespace calm::ui;

namespace {

const QString kT5 = QStringLiteral(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
const QString kLlama = QStringLiteral(CALM_FIXTURES_DIR "/models/llama-gqa-untied-f32");
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
  void setLambda(double lambda, calm::Measure measure = calm::Measure::Softmax, int maxNew = 16) {
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.manualLambda = lambda;
    c.measure = measure;
    c.maxNewTokens = maxNew;
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
    QCOMPARE(schedule->pointCount(), f.session.controls().maxNewTokens);
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
    c.maxNewTokens = 8;
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
};

QTEST_MAIN(TestUiWindow)
#include "test_ui_window.moc"
