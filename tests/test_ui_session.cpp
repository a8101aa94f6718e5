// StudioSession without any window: loading (good and bad directories),
// generating, debounced re-decoding, cancelling, and calibration — a delta or
// epsilon change must re-choose lambda from the cached losses without running
// the model (the session counts every Decoder::generate call).
#include <QtTest>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>

#include "CalibrationData.h"
#include "CalibrationExport.h"
#include "calibrate/thresholds.h"
#include "StudioSession.h"
#include "model/catalog.h"

using calm::ui::CalibrationData;
using calm::ui::CalibrationExport;
using calm::ui::DecodeControls;
using calm::ui::StudioSession;

namespace {

const QString kT5 = QStringLiteral(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
const QString kLlama = QStringLiteral(CALM_FIXTURES_DIR "/models/llama-gqa-untied-f32");
const QString kPrompt = QStringLiteral("And God said, Let there be light");
constexpr int kWait = 20000;  // ms: generous for a loaded CI machine; the runs take milliseconds

bool loadInto(StudioSession& session, const QString& dir) {
  QSignalSpy loaded(&session, &StudioSession::modelLoaded);
  session.loadModel(dir);
  return loaded.wait(kWait) || session.hasModel();
}

// A JSONL set of `n` prompts with references.
QString writeSet(const QTemporaryDir& dir, int n, const QString& name = QStringLiteral("set.jsonl")) {
  const QString path = dir.filePath(name);
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return {};
  const char* words[] = {"light", "water", "earth", "heaven", "day", "night", "seed", "fruit"};
  for (int i = 0; i < n; ++i)
    file.write(QStringLiteral("{\"input\": \"And God made the %1 and the %2\", \"reference\": \"God made the %1\"}\n")
                   .arg(QLatin1String(words[i % 8]), QLatin1String(words[(i * 3 + 1) % 8]))
                   .toUtf8());
  return path;
}

// Outputs whose losses rise as lambda falls: under the exact-match metric an
// example's textual loss is 0 when its early output equals the full one and 1
// otherwise, and at grid point g exactly n g / 20 examples differ, so the mean
// loss there is g / 20 and the fixed-sequence walk stops later for a larger delta.
std::shared_ptr<const CalibrationData> syntheticCalibration(const StudioSession& session, const DecodeControls& c) {
  auto data = std::make_shared<CalibrationData>();
  calm::CalibrationRun& run = data->run;
  run.model_name = "synthetic";
  run.data_path = "synthetic.jsonl";
  run.settings.measure = c.measure;
  run.settings.tau = static_cast<float>(c.tau);
  run.settings.max_new_tokens = c.maxNewTokens;
  run.settings.kv_mode = c.kvMode;
  run.settings.grid = calm::lambda_grid(0.05);
  const std::size_t n = 400, grid = run.settings.grid.size();
  for (std::size_t i = 0; i < n; ++i) {
    calm::Example e;
    e.input = "x";
    e.line = i + 1;
    run.examples.push_back(e);
    calm::ExampleOutputs o;
    o.full = {5};
    o.full_seconds = o.full_flops = 1.0;
    for (std::size_t g = 0; g < grid; ++g) {
      const std::size_t differing = static_cast<std::size_t>(std::lround(n * g / 20.0));
      o.early.push_back(i < differing ? std::vector<int>{6} : std::vector<int>{5});
      o.layers.push_back(3.0 - 2.0 * g / 20.0);
      o.seconds.push_back(1.0);
      o.flops.push_back(1.0);
    }
    run.outputs.push_back(o);
  }
  data->model = session.model();
  data->modelDir = session.modelDir();
  data->dataset = QStringLiteral("synthetic.jsonl");
  return data;
}

}  // namespace

class TestUiSession : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void loadsAFixtureModel() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QVERIFY(session.hasModel());
    QCOMPARE(session.model()->config.decoder_layers, 3);
    QVERIFY(session.modelDir().endsWith(QStringLiteral("t5-gated-untied-f32")));
  }

  void badModelDirectoryGivesAReadableError() {
    StudioSession session;
    QSignalSpy failed(&session, &StudioSession::modelFailed);
    session.loadModel(QStringLiteral("/nonexistent/model"));
    QVERIFY(failed.wait(kWait));
    QVERIFY(!session.hasModel());
    const QString message = failed.first().at(1).toString();
    QVERIFY2(message.contains(QStringLiteral("/nonexistent/model")), qPrintable(message));

    // A directory that looks like a model but is broken: the message names where.
    QTemporaryDir dir;
    QFile config(dir.filePath(QStringLiteral("config.json")));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write("{ not json");
    config.close();
    session.loadModel(dir.path());
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 2, kWait);
    const QString second = failed.last().at(1).toString();
    QVERIFY2(second.contains(dir.path()), qPrintable(second));

    // The session is still usable: a good model loads and generates.
    QVERIFY(loadInto(session, kT5));
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY(finished.wait(kWait));
  }

  void aFailedLoadKeepsThePreviousModel() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QSignalSpy failed(&session, &StudioSession::modelFailed);
    session.loadModel(QStringLiteral("/nonexistent/model"));
    QVERIFY(failed.wait(kWait));
    QVERIFY(session.hasModel());
    QVERIFY(session.modelDir().endsWith(QStringLiteral("t5-gated-untied-f32")));
  }

  void generatesCalmAndFullRuns_data() {
    QTest::addColumn<QString>("dir");
    QTest::newRow("t5") << kT5;
    QTest::newRow("llama") << kLlama;
  }

  void generatesCalmAndFullRuns() {
    QFETCH(QString, dir);
    StudioSession session;
    QVERIFY(loadInto(session, dir));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.manualLambda = 0.3;
    c.maxNewTokens = 12;
    session.setControls(c);
    session.setPrompt(kPrompt);
    QSignalSpy streamed(&session, &StudioSession::tokenStreamed);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY(finished.wait(kWait));
    const auto outcome = session.outcome();
    QVERIFY(outcome);
    const int L = session.model()->config.decoder_layers;
    QCOMPARE(outcome->numLayers(), L);
    QVERIFY(outcome->tokenCount() > 0);
    QCOMPARE(streamed.count(), outcome->tokenCount());
    QCOMPARE(outcome->calmPieces.size(), outcome->tokenCount());
    QCOMPARE(outcome->full.num_layers, L);
    for (const calm::TokenTrace& t : outcome->calm.trace) {
      QCOMPARE(static_cast<int>(t.confidence.size()), L);  // traced: every layer
      QCOMPARE(static_cast<int>(t.top.size()), L);
      QVERIFY(t.exit_layer >= 1 && t.exit_layer <= L);
    }
    for (int layer : outcome->full.exit_layers) QCOMPARE(layer, L);  // the full model never exits
    QCOMPARE(outcome->options.lambda, 0.3f);
    QVERIFY(outcome->textualDistance >= 0.0 && outcome->textualDistance <= 1.0);
    QVERIFY(outcome->fullSeconds > 0.0 && outcome->calmSeconds > 0.0);
    QVERIFY(session.engineRuns() >= 3);  // traced CALM, full, timed CALM
  }

  void lambdaOneIsTheFullModel() {
    StudioSession session;
    QVERIFY(loadInto(session, kLlama));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.manualLambda = 1.0;
    c.maxNewTokens = 10;
    session.setControls(c);
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY(finished.wait(kWait));
    const auto o = session.outcome();
    QCOMPARE(o->calm.tokens, o->full.tokens);
    QCOMPARE(o->textualDistance, 0.0);
    for (int layer : o->calm.exit_layers) QCOMPARE(layer, o->numLayers());
  }

  void controlChangesRedecodeOnceAfterTheDebounce() {
    StudioSession session;
    session.setDebounceInterval(80);
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.manualLambda = 0.5;
    c.maxNewTokens = 8;
    session.setControls(c);
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    QSignalSpy started(&session, &StudioSession::generationStarted);

    // Before any generation, a control change does not decode.
    c.manualLambda = 0.45;
    session.setControls(c);
    QVERIFY(!session.autoRedecode());
    QVERIFY(!started.wait(3 * session.debounceInterval()));  // nothing starts, not even after the debounce

    session.generate();
    QVERIFY(finished.wait(kWait));
    QCOMPARE(started.count(), 1);
    // A burst of slider moves: one re-decode, with the last value.
    for (double v : {0.4, 0.35, 0.3, 0.25}) {
      c.manualLambda = v;
      session.setControls(c);
    }
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kWait);
    QCOMPARE(started.count(), 2);
    QCOMPARE(session.outcome()->options.lambda, 0.25f);
    // A metric change re-scores the last outcome without the engine.
    const int runs = session.engineRuns();
    QSignalSpy outcome(&session, &StudioSession::outcomeChanged);
    c.metric = calm::Metric::Token;
    session.setControls(c);
    QCOMPARE(outcome.count(), 1);
    QCOMPARE(session.outcome()->metric, calm::Metric::Token);
    QCOMPARE(session.engineRuns(), runs);
  }

  void aCancelledRunLeavesTheSessionUsable() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.manualLambda = 0.5;
    session.setControls(c);
    session.setPrompt(kPrompt);
    QSignalSpy cancelled(&session, &StudioSession::generationCancelled);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    session.cancelGeneration();
    QVERIFY(cancelled.wait(kWait));
    QCOMPARE(finished.count(), 0);
    QVERIFY(!session.isGenerating());
    QVERIFY(!session.outcome());
    session.generate();
    QVERIFY(finished.wait(kWait));
    QVERIFY(session.outcome());
  }

  void anEmptyPromptIsRefusedInWords() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QSignalSpy failed(&session, &StudioSession::generationFailed);
    session.setPrompt(QStringLiteral("   "));
    session.generate();
    QCOMPARE(failed.count(), 1);
    QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("empty")));
  }

  void deltaChangesLambdaWithoutRunningTheModel() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = true;
    c.delta = 0.05;
    c.epsilon = 0.05;
    c.metric = calm::Metric::Exact;
    session.setControls(c);
    session.setCalibration(syntheticCalibration(session, c));
    QVERIFY(session.lambdaIsCalibrated());
    const double strict = session.lambda();
    const int runs = session.engineRuns();
    QSignalSpy lambdaChanged(&session, &StudioSession::lambdaChanged);
    c.delta = 0.3;
    session.setControls(c);
    QCOMPARE(lambdaChanged.count(), 1);
    const double loose = session.lambda();
    // Means are g/20 at lambda 1 - g/20: a larger delta lets the walk go further.
    QVERIFY2(loose < strict, qPrintable(QStringLiteral("%1 vs %2").arg(loose).arg(strict)));
    QCOMPARE(session.engineRuns(), runs);
    QCOMPARE(session.calibrator().runs(), 0);
    // Another p-value bound re-reads the same losses.
    QSignalSpy calibrationChanged(&session, &StudioSession::calibrationChanged);
    c.pvalueMethod = calm::PValueMethod::Hoeffding;
    session.setControls(c);
    QVERIFY(calibrationChanged.count() >= 1);
    QCOMPARE(session.calibrationResult()->method, calm::PValueMethod::Hoeffding);
    QVERIFY(session.lambda() >= loose);  // Hoeffding is never tighter than Hoeffding-Bentkus
    QCOMPARE(session.engineRuns(), runs);
    c.pvalueMethod = calm::PValueMethod::HoeffdingBentkus;
    session.setControls(c);
    // Epsilon too; by hand ignores the calibration.
    c.epsilon = 0.3;
    session.setControls(c);
    QVERIFY(session.lambda() <= loose);
    c.lambdaFromCalibration = false;
    c.manualLambda = 0.77;
    session.setControls(c);
    QCOMPARE(session.lambda(), 0.77);
    QCOMPARE(session.engineRuns(), runs);
    // A calibration made under another measure does not set lambda.
    c.lambdaFromCalibration = true;
    c.measure = calm::Measure::State;
    session.setControls(c);
    QVERIFY(!session.lambdaIsCalibrated());
    QVERIFY(!session.calibrationMismatch().isEmpty());
  }

  void aRealCalibrationThenDeltaMovesAreFree() {
    QTemporaryDir dir;
    const QString set = writeSet(dir, 6);
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.maxNewTokens = 8;
    c.lambdaFromCalibration = true;
    session.setControls(c);
    QSignalSpy finished(&session.calibrator(), &calm::ui::CalibrationController::finished);
    QSignalSpy progress(&session.calibrator(), &calm::ui::CalibrationController::progress);
    session.startCalibration(set, 0, 0.1);
    QVERIFY(finished.wait(kWait));
    QVERIFY(session.calibration());
    QCOMPARE(session.calibration()->run.examples.size(), std::size_t(6));
    QVERIFY(session.calibration()->run.complete());
    QCOMPARE(session.calibration()->table(c.consistency, c.metric)->grid_size(), std::size_t(11));
    QVERIFY(session.calibrationResult());
    QVERIFY(progress.count() > 0);
    QCOMPARE(progress.last().at(0).toInt(), progress.last().at(1).toInt());
    // 6 full runs + 6 x 10 CALM runs (lambda = 1 is the full run itself).
    const int runs = session.engineRuns();
    QCOMPARE(runs, 6 + 6 * 10);
    for (double delta : {0.01, 0.1, 0.2, 0.4}) {
      c.delta = delta;
      session.setControls(c);
      QVERIFY(session.calibrationResult());
      QCOMPARE(session.calibrationResult()->delta, delta);
    }
    QCOMPARE(session.engineRuns(), runs);
    QCOMPARE(session.calibrator().runs(), 1);

    // Consistency and metric re-score the stored outputs: still no engine call.
    c.metric = calm::Metric::Bleu;
    session.setControls(c);
    QVERIFY(session.calibrationResult());
    c.consistency = calm::Consistency::Risk;  // the set has references
    session.setControls(c);
    QVERIFY(session.calibrationResult());
    QVERIFY(session.lambdaIsCalibrated());
    QCOMPARE(session.engineRuns(), runs);

    // The thresholds file (the core's format, read back by the core) and the report.
    const QString thresholdsPath = dir.filePath(QStringLiteral("thresholds.json"));
    QCOMPARE(CalibrationExport::writeThresholds(*session.calibration(), session.controls(), thresholdsPath), QString());
    const calm::Thresholds t = calm::read_thresholds(thresholdsPath.toStdString());
    QCOMPARE(t.lambda, session.calibrationResult()->lambda);
    QCOMPARE(t.measure, calm::Measure::Softmax);
    QCOMPARE(t.delta, 0.4);
    QCOMPARE(t.consistency, calm::Consistency::Risk);
    QCOMPARE(t.metric, calm::Metric::Bleu);
    QCOMPARE(t.examples, std::size_t(6));
    QCOMPARE(t.max_new_tokens, 8);
    const QString reportPath = dir.filePath(QStringLiteral("report.json"));
    QCOMPARE(CalibrationExport::writeReport(*session.calibration(), session.controls(), reportPath), QString());
    QVERIFY(QFile::exists(reportPath));
    QVERIFY(QFile::exists(dir.filePath(QStringLiteral("report.csv"))));
    QVERIFY(!CalibrationExport::writeThresholds(*session.calibration(), session.controls(),
                                                QStringLiteral("/no/such/dir/t.json"))
                 .isEmpty());
  }

  void aCancelledCalibrationLeavesTheSessionUsable() {
    QTemporaryDir dir;
    const QString set = writeSet(dir, 400);
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QSignalSpy cancelled(&session.calibrator(), &calm::ui::CalibrationController::cancelled);
    QSignalSpy progress(&session.calibrator(), &calm::ui::CalibrationController::progress);
    session.startCalibration(set, 0, 0.05);
    QVERIFY(progress.wait(kWait));  // it is under way
    session.cancelCalibration();
    QVERIFY(cancelled.wait(kWait));
    QVERIFY(!session.calibrator().isRunning());
    QVERIFY(!session.calibration());  // nothing half-done was kept
    // Generation works, and a new calibration runs to the end.
    session.setPrompt(kPrompt);
    QSignalSpy generated(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY(generated.wait(kWait));
    const QString small = writeSet(dir, 3, QStringLiteral("small.jsonl"));
    QSignalSpy finished(&session.calibrator(), &calm::ui::CalibrationController::finished);
    session.startCalibration(small, 0, 0.25);
    QVERIFY(finished.wait(kWait));
    QVERIFY(session.calibration());
  }

  void aMalformedSetIsReportedWithItsLine() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bad.jsonl"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("{\"input\": \"fine\"}\n{\"input\": 3}\n");
    file.close();
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QSignalSpy failed(&session.calibrator(), &calm::ui::CalibrationController::failed);
    session.startCalibration(path);
    QVERIFY(failed.wait(kWait));
    const QString message = failed.first().at(0).toString();
    QVERIFY2(message.contains(QStringLiteral(":2")), qPrintable(message));
    QVERIFY(!session.calibrator().isRunning());
  }

  void riskConsistencyNeedsReferences() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("noref.jsonl"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("{\"input\": \"And God said\"}\n");
    file.close();
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.consistency = calm::Consistency::Risk;
    session.setControls(c);
    QSignalSpy failed(&session.calibrator(), &calm::ui::CalibrationController::failed);
    session.startCalibration(path);
    QVERIFY(failed.wait(kWait));
    QVERIFY(failed.first().at(0).toString().contains(QStringLiteral("reference")));
  }
};

QTEST_GUILESS_MAIN(TestUiSession)
#include "test_ui_session.moc"
