// Losses computed elsewhere, in the app (docs/losses-format.md): a losses file
// opened for the loaded model becomes the session's calibration and sets
// lambda exactly as calm::choose_lambda does on the file's losses, without
// decoding; the panel says where the losses came from; its export names the
// loaded model; a file for other weights or with a bad line is refused naming
// the file. Files live in a QTemporaryDir.
#include <QtTest>

#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QTemporaryDir>

#include "calibrate/ltt.h"
#include "io/utf8.h"
#include "session/CalibrationExport.h"
#include "session/StudioSession.h"
#include "util/hash.h"
#include "widgets/CalibrationPanel.h"

using calm::ui::CalibrationData;
using calm::ui::CalibrationExport;
using calm::ui::CalibrationPanel;
using calm::ui::DecodeControls;
using calm::ui::StudioSession;

namespace {

const QString kT5 = QStringLiteral(CALM_FIXTURES_DIR "/models/t5-gated-untied-f32");
constexpr int kWait = 20000;  // ms

// 400 examples over the grid 1, 0.95, ..., 0: at grid point g the first
// 400 g / 20 examples have loss 1, the rest 0, so the mean loss at point g is
// g / 20 (an exact-match loss: 0 or 1).
constexpr std::size_t kExamples = 400;
std::vector<std::vector<double>> rising_losses() {
  std::vector<std::vector<double>> losses(kExamples, std::vector<double>(21, 0.0));
  for (std::size_t i = 0; i < kExamples; ++i)
    for (std::size_t g = 0; g < 21; ++g) losses[i][g] = i < kExamples * g / 20 ? 1.0 : 0.0;
  return losses;
}

QString writeLosses(const QTemporaryDir& dir, const DecodeControls& c, const QString& hash,
                    const QString& extraLine = QString()) {
  calm::RunSettings settings = calm::RunSettings::from(c);
  nlohmann::ordered_json header = {{"calm_losses", 1},
                                   {"kind", "losses"},
                                   {"lambdas", calm::lambda_grid(0.05)},
                                   {"loss", {{"consistency", "textual"}, {"metric", "exact"}, {"metric_unit", "words"}}},
                                   {"settings", settings.to_json()}};
  if (!hash.isEmpty()) header["model"] = {{"hash", hash.toStdString()}};
  const QString path = dir.filePath(QStringLiteral("losses.jsonl"));
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly)) return {};
  file.write(QByteArray::fromStdString(calm::dump_json(header) + "\n"));
  for (const auto& row : rising_losses())
    file.write(QByteArray::fromStdString(calm::dump_json(nlohmann::json{{"losses", row}}) + "\n"));
  if (!extraLine.isEmpty()) file.write(extraLine.toUtf8() + "\n");
  return path;
}

}  // namespace

class TestUiLosses : public QObject {
  Q_OBJECT
 private slots:
  void a_losses_file_sets_lambda_without_decoding();
  void files_for_other_weights_or_with_bad_lines_are_refused();
};

void TestUiLosses::a_losses_file_sets_lambda_without_decoding() {
  StudioSession session;
  QSignalSpy loaded(&session, &StudioSession::modelLoaded);
  session.loadModel(kT5);
  QVERIFY(loaded.wait(kWait) || session.hasModel());
  DecodeControls c = session.controls();
  c.lambdaFromCalibration = true;
  c.delta = 0.1;
  c.epsilon = 0.05;
  c.consistency = calm::Consistency::Textual;
  c.metric = calm::Metric::RougeL;  // the file's own exact-match losses answer instead
  session.setControls(c);
  QTemporaryDir dir;
  const QString path =
      writeLosses(dir, c, QString::fromStdString(calm::file_hash(kT5.toStdString() + "/model.safetensors")));
  const int runs = session.engineRuns();
  QSignalSpy finished(&session.calibrator(), &calm::ui::CalibrationController::finished);
  session.calibrator().openLosses(path, session.model(), session.modelDir(), c);
  QCOMPARE(finished.count(), 1);
  QVERIFY(session.calibration() && session.calibration()->imported);
  QCOMPARE(session.calibration()->examples(), kExamples);
  QCOMPARE(session.calibration()->askedFor.metric, calm::Metric::Exact);

  // The session reads the file's losses once the controls ask for them.
  c.metric = calm::Metric::Exact;
  session.setControls(c);
  QVERIFY(session.calibrationResult());
  calm::LossTable table;  // the same losses, built here
  table.lambdas = calm::lambda_grid(0.05);
  table.losses.assign(21, std::vector<double>(kExamples));
  const auto losses = rising_losses();
  for (std::size_t i = 0; i < kExamples; ++i)
    for (std::size_t g = 0; g < 21; ++g) table.losses[g][i] = losses[i][g];
  const calm::CalibrationResult expected = calm::choose_lambda(table, 0.1, 0.05, c.method);
  const calm::CalibrationResult& got = *session.calibrationResult();
  QCOMPARE(got.lambda, expected.lambda);
  QVERIFY(expected.lambda < 1.0 && expected.lambda > 0.0);  // the walk went somewhere and stopped
  for (std::size_t g = 0; g < 21; ++g) {
    QCOMPARE(got.points[g].mean_loss, g / 20.0);
    QCOMPARE(got.points[g].p_value, expected.points[g].p_value);
  }
  QVERIFY(session.lambdaIsCalibrated());
  QCOMPARE(session.lambda(), expected.lambda);
  QCOMPARE(session.engineRuns(), runs);  // nothing decoded
  QVERIFY(session.calibration()->certifies(c));

  const calm::Thresholds t = CalibrationExport::thresholds(*session.calibration(), c);
  QCOMPARE(t.lambda, expected.lambda);
  QCOMPARE(t.model_hash, calm::file_hash(kT5.toStdString() + "/model.safetensors"));
  QCOMPARE(t.examples, kExamples);
  QVERIFY(!t.exploratory);

  CalibrationPanel panel;
  panel.showResult(session.calibration().get(), session.calibrationResult(), c, QString(), 3);
  const auto* summary = panel.findChild<QLabel*>(QStringLiteral("calibrationSummary"));
  QVERIFY(summary);
  QVERIFY2(summary->text().contains(QStringLiteral("imported from losses.jsonl")), qPrintable(summary->text()));
  QVERIFY(summary->text().contains(QStringLiteral("Chosen λ")));
  QSignalSpy open(&panel, &CalibrationPanel::openLossesRequested);
  panel.findChild<QPushButton*>(QStringLiteral("openLossesButton"))->click();
  QCOMPARE(open.count(), 1);
}

void TestUiLosses::files_for_other_weights_or_with_bad_lines_are_refused() {
  StudioSession session;
  QSignalSpy loaded(&session, &StudioSession::modelLoaded);
  session.loadModel(kT5);
  QVERIFY(loaded.wait(kWait) || session.hasModel());
  const DecodeControls c = session.controls();
  QTemporaryDir dir;
  QSignalSpy failed(&session.calibrator(), &calm::ui::CalibrationController::failed);
  session.calibrator().openLosses(writeLosses(dir, c, QStringLiteral("0123456789abcdef")), session.model(),
                                  session.modelDir(), c);
  QCOMPARE(failed.count(), 1);
  QString message = failed.takeFirst().at(0).toString();
  QVERIFY2(message.contains(QStringLiteral("losses.jsonl")) && message.contains(QStringLiteral("0123456789abcdef")),
           qPrintable(message));
  session.calibrator().openLosses(writeLosses(dir, c, QString(), QStringLiteral("{\"losses\": [0, 0.5]}")),
                                  session.model(), session.modelDir(), c);
  QCOMPARE(failed.count(), 1);
  message = failed.takeFirst().at(0).toString();
  QVERIFY2(message.contains(QStringLiteral("losses.jsonl:402")) && message.contains(QStringLiteral("21 lambdas")),
           qPrintable(message));
  QVERIFY(!session.calibration());
}

QTEST_MAIN(TestUiLosses)
#include "test_ui_losses.moc"
