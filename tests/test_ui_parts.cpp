// The small pieces of the app that hold logic of their own: the exit colour
// scale, the token diff of the comparison, chip labels, example prompts from
// the bundled sets, and the settings' defaults and clamping.
#include <thread>

#include <QtTest>

#include "model/config.h"
#include "model/load.h"
#include "session/ModelDescription.h"

#include <QTemporaryDir>

#include "session/ExamplePrompts.h"
#include "session/LatestJob.h"
#include "plots/ExitColorScale.h"
#include "session/SettingsStore.h"
#include "session/TokenDiff.h"
#include "session/TokenText.h"

using namespace calm::ui;

class TestUiParts : public QObject {
  Q_OBJECT

 private slots:
  // The pattern behind loading, decoding and calibrating: only the latest
  // job's progress and result arrive; starting or cancelling flags the flag
  // the worker polls; the running count covers stale jobs until they finish.
  void latestJobDropsStaleResults() {
    QObject owner;
    calm::ui::LatestJob jobs(&owner);
    QVERIFY(!jobs.isRunning());
    const auto first = jobs.start();
    const auto second = jobs.start();
    QVERIFY(first.cancelled());    // started over
    QVERIFY(!second.cancelled());
    QVERIFY(jobs.isRunning());
    QStringList delivered;
    int afterCalls = 0;
    std::thread worker([&] {
      jobs.report(first, [&] { delivered << QStringLiteral("first progress"); });
      jobs.report(second, [&] { delivered << QStringLiteral("second progress"); });
      jobs.finish(first, [&] { delivered << QStringLiteral("first result"); }, [&] { ++afterCalls; });
    });
    worker.join();
    QVERIFY(delivered.isEmpty());  // queued to the owner's thread, not run on the worker
    QCoreApplication::processEvents();
    QCOMPARE(delivered, QStringList{QStringLiteral("second progress")});
    QCOMPARE(afterCalls, 1);
    QVERIFY(jobs.isRunning());  // the second is still out
    QVERIFY(!jobs.wasCancelled(second.serial));
    jobs.cancel();
    QVERIFY(second.cancelled());
    QVERIFY(jobs.wasCancelled(second.serial));
    jobs.finish(second, [&] { delivered << QStringLiteral("second result"); });
    QCoreApplication::processEvents();
    QCOMPARE(delivered.size(), 2);  // still the latest: the owner decides what a cancelled result means
    QVERIFY(!jobs.isRunning());
  }

  void colourScaleRunsFromGreenToRed() {
    // The ends are ColorBrewer RdYlGn's green (#1a9850) and red (#d73027).
    QCOMPARE(ExitColorScale::forLayer(1, 8), QColor(0x1a, 0x98, 0x50));
    QCOMPARE(ExitColorScale::forLayer(8, 8), QColor(0xd7, 0x30, 0x27));
    QCOMPARE(ExitColorScale::forLayer(1, 1), QColor(0xd7, 0x30, 0x27));  // one layer: always the full depth
    // Continuous: neighbouring layers of a deep model differ only a little, and red rises overall.
    for (int layer = 1; layer < 32; ++layer) {
      const QColor a = ExitColorScale::forLayer(layer, 32), b = ExitColorScale::forLayer(layer + 1, 32);
      QVERIFY(std::abs(a.red() - b.red()) + std::abs(a.green() - b.green()) + std::abs(a.blue() - b.blue()) < 60);
    }
    QVERIFY(ExitColorScale::at(0.9).red() > ExitColorScale::at(0.1).red());
    QCOMPARE(ExitColorScale::at(-1.0), ExitColorScale::at(0.0));  // clamped
    QCOMPARE(ExitColorScale::at(2.0), ExitColorScale::at(1.0));
    // Readable text: white on the dark ends, dark on the yellow middle.
    QCOMPARE(ExitColorScale::textOn(ExitColorScale::at(1.0)), QColor(Qt::white));
    QVERIFY(ExitColorScale::textOn(ExitColorScale::at(0.5)).lightness() < 100);
  }

  // The model panel's rows, from a ModelInfo made by hand.
  void modelDescription() {
    calm::ModelConfig c;
    c.d_model = 896;
    c.num_heads = 14;
    c.vocab_size = 151936;
    calm::ModelInfo info;
    info.variant = "qwen2: q/k/v biases, grouped-query, tied head";
    info.stored_types = "bf16";
    info.weights_type = "q8";
    info.weight_bytes = 520'000'000;
    info.tokenizer = "byte-level BPE (tokenizer.json)";
    info.decoder_layers = 24;
    info.parameters = 494'032'768;
    const ModelDescription d = describeModel(c, info);
    QMap<QString, QString> rows;
    for (const auto& [label, value] : d.rows) rows[label] = value;
    QCOMPARE(rows.value("Architecture"), QString("qwen2: q/k/v biases, grouped-query, tied head"));
    QCOMPARE(rows.value("Layers"), QString("24 decoder layers, every one an exit"));
    QCOMPARE(rows.value("Parameters"), QString("494 M (d_model 896, 14 heads, vocabulary 151936)"));
    QCOMPARE(rows.value("Stored as"), QString("bf16"));
    QCOMPARE(rows.value("In memory"), QString("q8, 0.52 GB"));
    QCOMPARE(rows.value("Tokenizer"), QString("byte-level BPE (tokenizer.json)"));
    QVERIFY(d.exitNote.contains("Not trained for early exit"));
    info.trained_for_exits = true;
    info.encoder_layers = 8;
    info.weight_bytes = 2'500'000;
    const ModelDescription trained = describeModel(c, info);
    QVERIFY(trained.exitNote.isEmpty());
    QCOMPARE(trained.rows.at(1).second, QString("24 decoder layers, every one an exit (+ 8 encoder)"));
    QCOMPARE(trained.rows.at(4).second, QString("q8, 2.50 MB"));
    QCOMPARE(humanCount(1'100'048'384), QString("1.1 G"));
    QCOMPARE(humanCount(31968), QString("32.0 k"));
    QCOMPARE(humanCount(800), QString("800"));
  }

  // The weights types offered are exactly what the loader parses, "auto" first.
  void weightTypeChoicesParse() {
    const QList<WeightTypeChoice> choices = weightTypeChoices();
    QCOMPARE(choices.size(), 5);
    QCOMPARE(choices.first().name, QString("auto"));
    QVERIFY(!calm::parse_weight_type("auto").has_value());
    for (const WeightTypeChoice& choice : choices.mid(1)) {
      const auto type = calm::parse_weight_type(choice.name.toStdString());
      QVERIFY(type.has_value());
      QCOMPARE(QString(calm::weight_type_name(*type)), choice.name);
      QVERIFY(!choice.help.isEmpty());
    }
  }

  void tokenDiffMarksWhatIsNotShared() {
    // LCS of (1 2 3 4) and (1 3 4 5) is (1 3 4): 2 is only in a, 5 only in b.
    const TokenDiff d({1, 2, 3, 4}, {1, 3, 4, 5});
    QCOMPARE(d.common(), 3);
    QCOMPARE(d.changedInA(), (std::vector<bool>{false, true, false, false}));
    QCOMPARE(d.changedInB(), (std::vector<bool>{false, false, false, true}));
    QVERIFY(!d.identical());
    QVERIFY(TokenDiff({7, 8}, {7, 8}).identical());
    QVERIFY(TokenDiff({}, {}).identical());
    const TokenDiff empty({}, {1, 2});
    QCOMPARE(empty.changedInB(), (std::vector<bool>{true, true}));
  }

  void chipLabels() {
    QCOMPARE(TokenText::chipLabel(QStringLiteral(" the")), QStringLiteral("the"));
    QVERIFY(TokenText::startsWord(QStringLiteral(" the")));
    QVERIFY(!TokenText::startsWord(QStringLiteral("ing")));
    QCOMPARE(TokenText::chipLabel(QStringLiteral("\n")), QStringLiteral("↵"));
    QCOMPARE(TokenText::chipLabel(QStringLiteral(" ")), QStringLiteral("␣"));
    QCOMPARE(TokenText::chipLabel(QString()), QStringLiteral("∅"));
    QCOMPARE(TokenText::quoted(QStringLiteral(" the")), QStringLiteral("‘the’"));
  }

  void examplesComeFromTheBundledSets() {
    const QList<ExamplePrompt> examples = ExamplePrompts::forModel(QStringLiteral("kjv2web"), 5);
    if (examples.isEmpty()) QSKIP("resources/data/kjv2web is not in this tree");
    QCOMPARE(examples.size(), 5);
    for (const ExamplePrompt& e : examples) {
      QVERIFY(!e.input.isEmpty());
      QVERIFY(e.reference.has_value());
      QVERIFY(!e.label.isEmpty());
    }
    QVERIFY(ExamplePrompts::forModel(QStringLiteral("no-such-model")).isEmpty());
  }

  void settingsDefaultAndClamp() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("s.ini"));
    {
      SettingsStore s(path);
      QCOMPARE(s.controls(), DecodeControls());  // nothing stored: the defaults
      s.raw().setValue(QStringLiteral("controls/delta"), 7.0);          // out of range
      s.raw().setValue(QStringLiteral("controls/tau"), QStringLiteral("abc"));  // not a number
      s.raw().setValue(QStringLiteral("controls/measure"), 99);
      s.sync();
    }
    SettingsStore s(path);
    QCOMPARE(s.controls().delta, 0.5);
    QCOMPARE(s.controls().tau, DecodeControls().tau);
    QCOMPARE(s.controls().measure, calm::Measure::Classifier);  // clamped to the last measure
    DecodeControls c;
    c.delta = 0.2;
    c.kv_mode = calm::KvMode::Exact;
    c.metric = calm::Metric::Bleu;
    s.setControls(c);
    QCOMPARE(s.controls(), c);
    // The decoding mode, the gate and the exit checks persist too.
    c.kv_mode = calm::KvMode::CatchUp;
    c.verify = true;
    c.verify_draft = 7;
    c.gate = calm::Gate::Classifier;
    c.gate_threshold = 0.75;
    c.first_exit_layer = 2;
    c.check_interval = 3;
    c.method = calm::CalibrationMethod::Crc;
    s.setControls(c);
    QCOMPARE(s.controls(), c);
    s.raw().setValue(QStringLiteral("controls/pvalueMethod"), 9);
    QCOMPARE(s.controls().method, calm::CalibrationMethod::Crc);  // clamped to the last method
    s.raw().setValue(QStringLiteral("controls/draftTokens"), 99);
    s.raw().setValue(QStringLiteral("controls/gate"), 7);
    QCOMPARE(s.controls().verify_draft, 16);
    QCOMPARE(s.controls().gate, calm::Gate::Classifier);
    QCOMPARE(DecodeControls().verify_draft, 4);
    QCOMPARE(DecodeControls().gate_threshold, 0.9);
  }
};

QTEST_GUILESS_MAIN(TestUiParts)
#include "test_ui_parts.moc"
