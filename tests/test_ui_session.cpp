// StudioSession without any window: loading (good and bad directories),
// generating, debounced re-decoding, cancelling, and calibration — a delta or
// epsilon change must re-choose lambda from the cached losses without running
// the model (the session counts every Decoder::generate call). Verify mode
// reproduces the full model and exposes the rejected drafts; a thresholds file
// puts its settings into the controls, and a broken one changes nothing.
#include <QtTest>

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>

#include "session/CalibrationData.h"
#include "session/CalibrationExport.h"
#include "calibrate/crc.h"
#include "calibrate/thresholds.h"
#include "session/StudioSession.h"
#include "model/catalog.h"
#include "util/hash.h"

using calm::ui::CalibrationData;
using calm::ui::CalibrationExport;
using calm::ui::DecodeControls;
using calm::ui::StudioSession;

namespace {

const QString kT5 = QStringLiteral(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
const QString kLlama = QStringLiteral(CALM_FIXTURES_DIR "/models/llama-gqa-untied-f32");
const QString kNoHead = QStringLiteral(CALM_FIXTURES_DIR "/models/t5-relu-tied");  // no classifier head
const QString kQwen2 = QStringLiteral(CALM_FIXTURES_DIR "/models/qwen2-style");
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
  run.settings.max_new_tokens = c.max_new_tokens;
  run.settings.kv_mode = c.kv_mode;
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

// A thresholds file for the t5 fixture (its real weights hash unless `hash` is given).
calm::Thresholds fixtureThresholds(const QString& hash = QString()) {
  calm::Thresholds t;
  t.model_name = "t5-gated-untied-f32";
  t.model_dir = kT5.toStdString();
  t.model_hash = hash.isEmpty() ? calm::file_hash(kT5.toStdString() + "/model.safetensors") : hash.toStdString();
  t.measure = calm::Measure::Softmax;
  t.tau = 2.5;
  t.lambda = 0.425;
  t.delta = 0.2;
  t.epsilon = 0.1;
  t.max_new_tokens = 20;
  t.first_exit_layer = 2;
  t.check_interval = 1;
  t.kv_mode = calm::KvMode::CatchUp;
  t.gate = calm::Gate::State;
  t.gate_threshold = 0.8;
  t.data_path = "set.jsonl";
  t.data_hash = "0123456789abcdef";
  t.examples = 10;
  t.created = calm::iso8601_utc_now();
  return t;
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

  // The weights type chosen before loading is the one the model is held in;
  // progress arrives in order and ends at 1; the session says what was loaded.
  void loadsInTheChosenWeightsTypeWithProgress() {
    StudioSession session;
    QCOMPARE(session.weightType(), QString("auto"));
    QVERIFY(!session.setWeightType(QStringLiteral("int4")));  // not a type: ignored
    QVERIFY(session.setWeightType(QStringLiteral("q8")));
    QVERIFY(!session.setWeightType(QStringLiteral("q8")));  // no change
    QSignalSpy progress(&session, &StudioSession::modelLoadProgress);
    QVERIFY(loadInto(session, kQwen2));
    QCOMPARE(session.model()->weights.decoder[0].self_attn.q.type, calm::WeightType::Q8);
    QVERIFY(session.modelInfo().has_value());
    QCOMPARE(session.modelInfo()->weights_type, std::string("q8"));
    QCOMPARE(session.modelInfo()->stored_types, std::string("bf16"));
    QCOMPARE(session.modelInfo()->model_type, std::string("qwen2"));
    QVERIFY(!session.modelInfo()->trained_for_exits);
    QVERIFY(progress.count() >= 3);
    double last = -1;
    for (const QList<QVariant>& signal : progress) {
      QVERIFY(signal.at(0).toDouble() >= last);
      last = signal.at(0).toDouble();
    }
    QCOMPARE(last, 1.0);
    // And it generates.
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY(finished.wait(kWait));
  }

  // Cancelling while loading keeps the model loaded before; nothing else changes.
  void aCancelledLoadKeepsThePreviousModel() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QSignalSpy cancelled(&session, &StudioSession::modelLoadCancelled);
    QSignalSpy loaded(&session, &StudioSession::modelLoaded);
    QSignalSpy failed(&session, &StudioSession::modelFailed);
    // Cancelled as soon as it starts (modelLoading is emitted before the worker
    // runs), so the worker stops at its first step whatever the machine's speed.
    const auto connection = connect(&session, &StudioSession::modelLoading, &session,
                                    [&session] { session.cancelModelLoad(); }, Qt::DirectConnection);
    session.loadModel(kQwen2);
    disconnect(connection);
    QVERIFY(cancelled.wait(kWait));
    QVERIFY(cancelled.first().at(0).toString().endsWith(QStringLiteral("qwen2-style")));
    QVERIFY(!session.isLoadingModel());
    QCOMPARE(loaded.count(), 0);
    QCOMPARE(failed.count(), 0);
    QVERIFY(session.modelDir().endsWith(QStringLiteral("t5-gated-untied-f32")));
    QCOMPARE(session.modelInfo()->model_type, std::string("t5"));
    // A later load is not affected by the earlier cancel.
    QVERIFY(loadInto(session, kQwen2));
    QVERIFY(session.modelDir().endsWith(QStringLiteral("qwen2-style")));
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
    c.lambda = 0.3;
    c.max_new_tokens = 12;
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
    QCOMPARE(outcome->options.lambda, 0.3);
    QVERIFY(outcome->textualDistance >= 0.0 && outcome->textualDistance <= 1.0);
    QVERIFY(outcome->fullSeconds > 0.0 && outcome->calmSeconds > 0.0);
    QVERIFY(session.engineRuns() >= 3);  // traced CALM, full, timed CALM
  }

  void lambdaOneIsTheFullModel() {
    StudioSession session;
    QVERIFY(loadInto(session, kLlama));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.lambda = 1.0;
    c.max_new_tokens = 10;
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
    c.lambda = 0.5;
    c.max_new_tokens = 8;
    session.setControls(c);
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    QSignalSpy started(&session, &StudioSession::generationStarted);

    // Before any generation, a control change does not decode.
    c.lambda = 0.45;
    session.setControls(c);
    QVERIFY(!session.autoRedecode());
    QVERIFY(!started.wait(3 * session.debounceInterval()));  // nothing starts, not even after the debounce

    session.generate();
    QVERIFY(finished.wait(kWait));
    QCOMPARE(started.count(), 1);
    // A burst of slider moves: one re-decode, with the last value.
    for (double v : {0.4, 0.35, 0.3, 0.25}) {
      c.lambda = v;
      session.setControls(c);
    }
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, kWait);
    QCOMPARE(started.count(), 2);
    QCOMPARE(session.outcome()->options.lambda, 0.25);
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
    c.lambda = 0.5;
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

  void verifyModeReproducesTheFullModel_data() {
    QTest::addColumn<QString>("dir");
    QTest::addColumn<double>("lambda");
    QTest::newRow("t5 lambda 0") << kT5 << 0.0;
    QTest::newRow("t5 lambda 0.5") << kT5 << 0.5;
    QTest::newRow("llama lambda 0.3") << kLlama << 0.3;
  }

  void verifyModeReproducesTheFullModel() {
    QFETCH(QString, dir);
    QFETCH(double, lambda);
    StudioSession session;
    QVERIFY(loadInto(session, dir));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.lambda = lambda;
    c.max_new_tokens = 24;
    c.verify = true;
    c.verify_draft = 4;
    c.kv_mode = calm::KvMode::CatchUp;  // verify mode drafts with propagated K/V whatever this says
    session.setControls(c);
    const calm::DecodeOptions options = session.decodeOptions();
    QCOMPARE(options.verify_draft, 4);
    QVERIFY(!options.trace);  // the core refuses a trace in verify mode
    QCOMPARE(options.kv_mode, calm::KvMode::Propagate);
    QVERIFY(session.traceUnavailableReason().contains(QStringLiteral("per-layer traces are shown in CALM mode")));
    session.setPrompt(kPrompt);
    QSignalSpy streamed(&session, &StudioSession::tokenStreamed);
    QSignalSpy failed(&session, &StudioSession::generationFailed);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY2(finished.wait(kWait), failed.isEmpty() ? "" : qPrintable(failed.first().at(0).toString()));
    const auto o = session.outcome();
    QVERIFY(o);
    QVERIFY(o->isVerify());
    QVERIFY(!o->traced());
    QCOMPARE(o->calm.tokens, o->full.tokens);  // lossless: exactly the full model's greedy output
    QCOMPARE(o->textualDistance, 0.0);
    QCOMPARE(streamed.count(), o->tokenCount());
    const int L = o->numLayers();
    QVERIFY(o->calm.drafted > 0);
    QVERIFY(o->calm.accepted <= o->calm.drafted);
    QVERIFY(o->acceptanceRate() >= 0.0 && o->acceptanceRate() <= 1.0);
    int corrected = 0, accepted = 0;
    for (const calm::TokenTrace& t : o->calm.trace) {
      QVERIFY(t.confidence.empty());  // no trace
      if (t.verified) {
        ++accepted;
        QVERIFY(t.rejected_drafts.empty());
        QVERIFY(t.exit_layer >= 1 && t.exit_layer <= L);
      } else {
        ++corrected;
        QCOMPARE(t.exit_layer, L);
        QVERIFY(!t.rejected_drafts.empty());           // the drafts it replaced, exposed
        QVERIFY(t.rejected_drafts.front() != t.token);  // the full model disagreed with the first
      }
    }
    QCOMPARE(accepted, o->calm.accepted);
    if (lambda == 0.0) QVERIFY2(corrected > 0, "lambda 0 drafts at the first layer: some drafts must be rejected");
    if (o->calm.verify_passes > 0) QVERIFY(o->tokensPerPass() > 0.0);
    QVERIFY(o->fullSeconds > 0.0 && o->calmSeconds > 0.0);

    // Back in CALM mode the trace returns.
    c.verify = false;
    session.setControls(c);
    QVERIFY(!session.traceUnavailableReason().isEmpty());  // the shown outcome still has none
    session.generate();
    QVERIFY(finished.wait(kWait));
    QVERIFY(session.outcome()->traced());
    QVERIFY(session.traceUnavailableReason().isEmpty());
    QCOMPARE(static_cast<int>(session.outcome()->calm.trace.front().confidence.size()), L);
  }

  void aThresholdsFileSetsTheControls() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("thresholds.json"));
    calm::write_thresholds(fixtureThresholds(), path.toStdString());
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    QSignalSpy lambdaChanged(&session, &StudioSession::lambdaChanged);
    const calm::ui::ThresholdsLoad load = session.openThresholds(path);
    QVERIFY2(load.applied, qPrintable(load.error));
    QVERIFY2(load.warning.isEmpty(), qPrintable(load.warning));
    QVERIFY(load.status.contains(QStringLiteral("thresholds.json")));
    QVERIFY(load.status.contains(QStringLiteral("0.425")));
    QVERIFY(lambdaChanged.count() >= 1);
    const DecodeControls& c = session.controls();
    QCOMPARE(session.lambda(), 0.425);
    QVERIFY(!c.lambdaFromCalibration);
    QCOMPARE(c.tau, 2.5);
    QCOMPARE(c.measure, calm::Measure::Softmax);
    QCOMPARE(c.gate, calm::Gate::State);
    QCOMPARE(c.gate_threshold, 0.8);
    QCOMPARE(c.kv_mode, calm::KvMode::CatchUp);
    QCOMPARE(c.first_exit_layer, 2);
    QCOMPARE(c.check_interval, 1);
    QCOMPARE(c.max_new_tokens, 20);
    // What the next run gets is what the file's decode options say.
    const calm::DecodeOptions o = session.decodeOptions();
    const calm::DecodeOptions expected = calm::read_thresholds(path.toStdString()).decode_options();
    QCOMPARE(o.lambda, expected.lambda);
    QCOMPARE(o.tau, expected.tau);
    QCOMPARE(o.gate, expected.gate);
    QCOMPARE(o.gate_threshold, expected.gate_threshold);
    QCOMPARE(o.kv_mode, expected.kv_mode);
    QCOMPARE(o.first_exit_layer, expected.first_exit_layer);
    QCOMPARE(o.check_interval, expected.check_interval);
    QCOMPARE(o.max_new_tokens, expected.max_new_tokens);
    const QString why = session.lambdaExplanation();
    QVERIFY2(why.contains(QStringLiteral("from thresholds.json")) && why.contains(QStringLiteral("δ = 0.2")) &&
                 why.contains(QStringLiteral("ε = 0.1")),
             qPrintable(why));
    QVERIFY(session.lambdaIsCalibrated());
    // It decodes with those settings.
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::generationFinished);
    session.generate();
    QVERIFY(finished.wait(kWait));
    QCOMPARE(session.outcome()->options.gate, calm::Gate::State);
    // Setting lambda by hand forgets where it came from.
    DecodeControls moved = session.controls();
    moved.lambda = 0.5;
    session.setControls(moved);
    QCOMPARE(session.lambdaExplanation(), QStringLiteral("set by hand"));
  }

  void aBrokenThresholdsFileChangesNothing() {
    QTemporaryDir dir;
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.lambda = 0.66;
    session.setControls(c);
    const DecodeControls before = session.controls();

    const QString broken = dir.filePath(QStringLiteral("broken-thresholds.json"));
    QFile file(broken);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("{\"format\": \"calm-thresholds\", \"version\": 1, \"lambda\": ");
    file.close();
    // Valid JSON, a value out of range.
    const QString outOfRange = dir.filePath(QStringLiteral("lambda-too-big.json"));
    {
      nlohmann::ordered_json j = calm::thresholds_to_json(fixtureThresholds());
      j["lambda"] = 1.5;
      QFile f(outOfRange);
      QVERIFY(f.open(QIODevice::WriteOnly));
      f.write(QByteArray::fromStdString(j.dump(2)));
    }
    for (const QString& path : {broken, outOfRange, dir.filePath(QStringLiteral("missing.json")), dir.path()}) {
      QSignalSpy lambdaChanged(&session, &StudioSession::lambdaChanged);
      const calm::ui::ThresholdsLoad load = session.openThresholds(path);
      QVERIFY(!load.applied);
      QVERIFY2(load.error.contains(QFileInfo(path).fileName()), qPrintable(load.error));
      QCOMPARE(session.controls(), before);
      QCOMPARE(session.lambda(), 0.66);
      QCOMPARE(lambdaChanged.count(), 0);
    }
    QVERIFY(session.openThresholds(outOfRange).error.contains(QStringLiteral("lambda")));
  }

  void aThresholdsFileForAnotherModelWarns() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("other.json"));
    calm::write_thresholds(fixtureThresholds(QStringLiteral("0123456789abcdef")), path.toStdString());
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    const calm::ui::ThresholdsLoad load = session.openThresholds(path);
    QVERIFY(load.applied);  // applied, with a warning
    QVERIFY2(load.warning.contains(QStringLiteral("other.json")) && load.warning.contains(QStringLiteral("0123456789abcdef")),
             qPrintable(load.warning));
    QCOMPARE(session.lambda(), 0.425);
    QVERIFY(!session.lambdaIsCalibrated());
    QVERIFY(session.lambdaExplanation().contains(QStringLiteral("another model")));

    // The classifier needs a head: refused on a model without one, nothing changes.
    calm::Thresholds classifier = fixtureThresholds();
    classifier.measure = calm::Measure::Classifier;
    const QString classifierPath = dir.filePath(QStringLiteral("classifier.json"));
    calm::write_thresholds(classifier, classifierPath.toStdString());
    StudioSession noHead;
    QVERIFY(loadInto(noHead, kNoHead));
    const DecodeControls before = noHead.controls();
    const calm::ui::ThresholdsLoad refused = noHead.openThresholds(classifierPath);
    QVERIFY(!refused.applied);
    QVERIFY2(refused.error.contains(QStringLiteral("classifier.json")), qPrintable(refused.error));
    QCOMPARE(noHead.controls(), before);
  }

  void theClassifierGateNeedsAHead() {
    StudioSession session;
    DecodeControls c = session.controls();
    c.gate = calm::Gate::Classifier;
    c.first_exit_layer = 99;
    session.setControls(c);
    QVERIFY(loadInto(session, kNoHead));
    QCOMPARE(session.controls().gate, calm::Gate::None);
    QCOMPARE(session.controls().first_exit_layer, session.model()->config.decoder_layers);
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

  // A bundled model starts from its shipped certified lambda, and says so;
  // settings its calibration did not use fall back to the hand-set value.
  void aBundledModelStartsCalibrated() {
    StudioSession session;
    const QString prose = QStringLiteral(CALM_SOURCE_DIR "/resources/models/prose");
    QVERIFY(loadInto(session, prose));
    const auto shipped = [&](const char* file) {
      return calm::read_thresholds((prose + QStringLiteral("/thresholds/") + QLatin1String(file)).toStdString());
    };
    DecodeControls c;  // the app's defaults
    session.setControls(c);
    QVERIFY(session.lambdaIsCalibrated());
    QCOMPARE(session.lambda(), shipped("softmax-d0.1.json").lambda);
    QVERIFY2(session.lambdaExplanation().contains(QStringLiteral("bundled calibration (1000 examples")),
             qPrintable(session.lambdaExplanation()));
    c.delta = 0.25;
    session.setControls(c);
    QCOMPARE(session.lambda(), shipped("softmax-d0.25.json").lambda);
    c.measure = calm::Measure::Classifier;
    session.setControls(c);
    QCOMPARE(session.lambda(), shipped("classifier-d0.25.json").lambda);
    c.max_new_tokens = 48;  // not what the bundled calibration ran with
    session.setControls(c);
    QVERIFY(!session.lambdaIsCalibrated());
    QCOMPARE(session.lambda(), c.lambda);
    QVERIFY2(session.lambdaExplanation().contains(QStringLiteral("bundled calibrations cover")),
             qPrintable(session.lambdaExplanation()));
    // The repetition remedies change the outputs: the bundled calibrations
    // made without them do not cover a run with them, and the panel says so;
    // prose also ships files made with repeated 3-grams banned, which do.
    for (const auto& [penalty, ngram] : {std::pair{1.2, 0}, std::pair{1.0, 2}}) {
      DecodeControls r;
      r.repetition_penalty = penalty;
      r.no_repeat_ngram = ngram;
      session.setControls(r);
      QVERIFY(!session.lambdaIsCalibrated());
      QCOMPARE(session.lambda(), r.lambda);
      QVERIFY2(session.lambdaExplanation().contains(QStringLiteral("bundled calibrations cover")) &&
                   session.lambdaExplanation().contains(
                       QStringLiteral("no repetition penalty or n-gram ban or repeated 3-grams banned")),
               qPrintable(session.lambdaExplanation()));
      QCOMPARE(session.decodeOptions().repetition_penalty, penalty);
      QCOMPARE(session.decodeOptions().no_repeat_ngram, ngram);
    }
    DecodeControls banned;
    banned.no_repeat_ngram = 3;
    session.setControls(banned);
    QVERIFY(session.lambdaIsCalibrated());
    QCOMPARE(session.lambda(), shipped("softmax-nr3-d0.1.json").lambda);
    QCOMPARE(session.decodeOptions().no_repeat_ngram, 3);
  }

  // The prompt decoded with each measure: one run per measure the model has,
  // each exactly what the decoder gives for that measure at the hand-set
  // lambda (the fixture ships no thresholds), traced, with its pieces.
  void measuresAreComparedOnOnePrompt() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.lambda = 0.6;
    c.max_new_tokens = 10;
    session.setControls(c);
    session.setPrompt(kPrompt);
    QSignalSpy finished(&session, &StudioSession::measureComparisonFinished);
    session.compareMeasures();
    QVERIFY(finished.wait(kWait));
    const auto& runs = session.measureRuns();
    QCOMPARE(runs.size(), std::size_t(5));  // the fixture has a classifier head; then the oracle
    calm::Decoder decoder(*session.model());
    for (const calm::ui::MeasureRun& run : runs) {
      if (run.oracle) continue;
      QCOMPARE(run.lambda, 0.6);
      QCOMPARE(run.lambdaSource, QStringLiteral("hand-set"));
      calm::DecodeOptions o = session.decodeOptions();
      o.measure = run.measure;
      const calm::DecodeResult expected = decoder.generate(kPrompt.toStdString(), o);
      QCOMPARE(run.result.tokens, expected.tokens);
      QCOMPARE(run.result.exit_layers, expected.exit_layers);
      QCOMPARE(run.pieces.size(), static_cast<int>(run.result.tokens.size()));
      QCOMPARE(run.result.trace.size(), run.result.tokens.size());
    }
    // The oracle's row: each token leaves at the first layer whose top token is
    // already the last layer's (given this run's own past).
    const calm::ui::MeasureRun& oracle = runs.back();
    QVERIFY(oracle.oracle);
    QCOMPARE(oracle.result.trace.size(), oracle.result.tokens.size());
    const int layers = oracle.result.num_layers;
    for (std::size_t t = 0; t < oracle.result.trace.size(); ++t) {
      const calm::TokenTrace& token = oracle.result.trace[t];
      QVERIFY(token.exit_layer >= 1 && token.exit_layer <= layers);
      QCOMPARE(static_cast<int>(token.top.size()), layers);
      const int last = token.top[static_cast<std::size_t>(layers - 1)].front().id;
      QCOMPARE(token.token, last);
      QCOMPARE(token.top[static_cast<std::size_t>(token.exit_layer - 1)].front().id, last);
      for (int layer = 1; layer < token.exit_layer; ++layer)
        QVERIFY(token.top[static_cast<std::size_t>(layer - 1)].front().id != last);
    }
    QVERIFY(oracle.result.average_layers() < layers);
    // Without a classifier head the classifier row is left out.
    StudioSession noHead;
    QVERIFY(loadInto(noHead, kNoHead));
    noHead.setPrompt(kPrompt);
    QSignalSpy done(&noHead, &StudioSession::measureComparisonFinished);
    noHead.compareMeasures();
    QVERIFY(done.wait(kWait));
    QCOMPARE(noHead.measureRuns().size(), std::size_t(4));
    // An empty prompt is refused in words.
    QSignalSpy failed(&noHead, &StudioSession::measureComparisonFailed);
    noHead.setPrompt(QString());
    noHead.compareMeasures();
    QCOMPARE(failed.count(), 1);
  }

  // File > Run a JSONL file: one output line per prompt, in input order, with
  // the prompt's own fields kept and the text the decoder gives for the same
  // options; progress up to the total; a malformed line, an output that
  // would replace the input and a cancel are each answered in words.
  void aJsonlFileIsDecodedLineByLine() {
    StudioSession session;
    QVERIFY(loadInto(session, kT5));
    DecodeControls c = session.controls();
    c.lambdaFromCalibration = false;
    c.lambda = 0.6;
    c.max_new_tokens = 6;
    session.setControls(c);
    QTemporaryDir dir;
    const QString input = dir.filePath(QStringLiteral("in.jsonl"));
    const QStringList prompts{kPrompt, QStringLiteral("In the beginning"), QStringLiteral("The LORD is my shepherd")};
    {
      QFile f(input);
      QVERIFY(f.open(QIODevice::WriteOnly));
      for (int i = 0; i < prompts.size(); ++i)
        f.write(QJsonDocument(QJsonObject{{QStringLiteral("id"), QStringLiteral("p%1").arg(i)},
                                          {QStringLiteral("input"), prompts[i]}})
                    .toJson(QJsonDocument::Compact) +
                "\n");
    }
    const QString output = dir.filePath(QStringLiteral("out.jsonl"));
    QSignalSpy progress(&session, &StudioSession::batchProgress);
    QSignalSpy finished(&session, &StudioSession::batchFinished);
    session.runBatch(input, output);
    QVERIFY(finished.wait(kWait));
    const calm::ui::BatchOutcome outcome = finished.first().first().value<calm::ui::BatchOutcome>();
    QCOMPARE(outcome.total, 3);
    QCOMPARE(outcome.written, 3);
    QCOMPARE(outcome.failed, 0);
    QVERIFY(!outcome.cancelled);
    QVERIFY(outcome.summary.contains(output));
    QTRY_COMPARE(progress.count(), 3);
    QCOMPARE(progress.last().at(0).toInt(), 3);
    QFile f(output);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = f.readAll().trimmed().split('\n');
    QCOMPARE(lines.size(), 3);
    calm::Decoder decoder(*session.model());
    calm::DecodeOptions o = session.decodeOptions();
    o.trace = false;
    for (int i = 0; i < 3; ++i) {
      const QJsonObject line = QJsonDocument::fromJson(lines[i]).object();
      QCOMPARE(line.value(QStringLiteral("id")).toString(), QStringLiteral("p%1").arg(i));
      QCOMPARE(line.value(QStringLiteral("line")).toInt(), i + 1);
      const calm::DecodeResult expected = decoder.generate(prompts[i].toStdString(), o);
      QCOMPARE(line.value(QStringLiteral("text")).toString(), QString::fromStdString(expected.text));
      QCOMPARE(line.value(QStringLiteral("exit_layers")).toArray().size(), static_cast<int>(expected.exit_layers.size()));
    }
    // A malformed line: nothing written, the file and line named.
    const QString bad = dir.filePath(QStringLiteral("bad.jsonl"));
    {
      QFile b(bad);
      QVERIFY(b.open(QIODevice::WriteOnly));
      b.write("{\"input\": \"fine\"}\n{not json\n");
    }
    QSignalSpy failed(&session, &StudioSession::batchFailed);
    session.runBatch(bad, dir.filePath(QStringLiteral("bad.out.jsonl")));
    QVERIFY(failed.wait(kWait));
    QVERIFY2(failed.last().first().toString().contains(QStringLiteral("bad.jsonl")), qPrintable(failed.last().first().toString()));
    QVERIFY2(failed.last().first().toString().contains(QStringLiteral(":2")), qPrintable(failed.last().first().toString()));
    QVERIFY(!QFile::exists(dir.filePath(QStringLiteral("bad.out.jsonl"))));
    // The output may not replace the input.
    session.runBatch(input, input);
    QVERIFY(failed.wait(kWait));
    QVERIFY(failed.last().first().toString().contains(QStringLiteral("replace the input")));
    QCOMPARE(QFile(input).size() > 0, true);
    // Cancelled at once: whatever finished is written, and says so.
    const QString cancelledOut = dir.filePath(QStringLiteral("cancelled.jsonl"));
    session.runBatch(input, cancelledOut);
    session.cancelBatch();
    QVERIFY(finished.wait(kWait));
    const calm::ui::BatchOutcome stopped = finished.last().first().value<calm::ui::BatchOutcome>();
    QFile c2(cancelledOut);
    QVERIFY(c2.open(QIODevice::ReadOnly));
    QCOMPARE(c2.readAll().count('\n'), static_cast<qsizetype>(stopped.written));
    QCOMPARE(stopped.cancelled, stopped.written < 3);
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
    c.method = calm::CalibrationMethod::Hoeffding;
    session.setControls(c);
    QVERIFY(calibrationChanged.count() >= 1);
    QCOMPARE(session.calibrationResult()->method, calm::CalibrationMethod::Hoeffding);
    QVERIFY(session.lambda() >= loose);  // Hoeffding is never tighter than Hoeffding-Bentkus
    QCOMPARE(session.engineRuns(), runs);
    // Conformal risk control re-reads them too: its choice is the one
    // choose_lambda_crc makes on the same table, and epsilon plays no part.
    c.method = calm::CalibrationMethod::Crc;
    session.setControls(c);
    QCOMPARE(session.calibrationResult()->method, calm::CalibrationMethod::Crc);
    // The synthetic losses are nested (example i differs from grid point i/20
    // on), so monotone, with mean g/20 at point g: the bound (400 g/20 + 1) / 401
    // is at most delta 0.3 up to g = 5 (101/401 = 0.2519; g = 6: 121/401 = 0.3017).
    QCOMPARE(session.lambda(), 0.75);
    QCOMPARE(session.calibrationResult()->points[5].crc_bound, 101.0 / 401.0);
    QVERIFY(!session.calibrationResult()->points[6].passed);
    QVERIFY(session.calibrationResult()->monotonicity.holds());
    const auto table = session.calibration()->table(c.consistency, c.metric);
    QCOMPARE(session.lambda(), calm::choose_lambda_crc(*table, c.delta).lambda);
    QVERIFY(session.lambdaExplanation().contains(QStringLiteral("conformal risk control")));
    const double crcLambda = session.lambda();
    c.epsilon = 0.4;
    session.setControls(c);
    QCOMPARE(session.lambda(), crcLambda);
    QCOMPARE(session.engineRuns(), runs);
    c.epsilon = 0.05;
    c.method = calm::CalibrationMethod::HoeffdingBentkus;
    session.setControls(c);
    // Epsilon too; by hand ignores the calibration.
    c.epsilon = 0.3;
    session.setControls(c);
    QVERIFY(session.lambda() <= loose);
    c.lambdaFromCalibration = false;
    c.lambda = 0.77;
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
    c.max_new_tokens = 8;
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
    // Calibrated with the controls fixed first: certified, until they move.
    QVERIFY(session.calibration()->certifies(c));
    QVERIFY(!CalibrationExport::thresholds(*session.calibration(), c).exploratory);
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
    QVERIFY(t.exploratory);  // delta, metric and consistency were moved after the results came in
    QVERIFY(t.metric_unit == calm::TextUnit::Words);
    const QString reportPath = dir.filePath(QStringLiteral("report.json"));
    QCOMPARE(CalibrationExport::writeReport(*session.calibration(), session.controls(), reportPath), QString());
    QVERIFY(QFile::exists(reportPath));
    QVERIFY(QFile::exists(dir.filePath(QStringLiteral("report.csv"))));
    QVERIFY(!CalibrationExport::writeThresholds(*session.calibration(), session.controls(),
                                                QStringLiteral("/no/such/dir/t.json"))
                 .isEmpty());
    // Neither export may replace what the calibration read: the data set stays as it was.
    QFile data(session.calibration()->dataset);
    QVERIFY(data.open(QIODevice::ReadOnly));
    const QByteArray before = data.readAll();
    data.close();
    const QString onData =
        CalibrationExport::writeThresholds(*session.calibration(), session.controls(), session.calibration()->dataset);
    QVERIFY2(onData.contains(QStringLiteral("is the same file as the input the calibration set")), qPrintable(onData));
    const QString reportOnData =
        CalibrationExport::writeReport(*session.calibration(), session.controls(), session.calibration()->dataset);
    QVERIFY2(reportOnData.contains(QStringLiteral("the calibration set")), qPrintable(reportOnData));
    QVERIFY(data.open(QIODevice::ReadOnly));
    QCOMPARE(data.readAll(), before);
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
