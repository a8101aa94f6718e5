// The Calibrator on a tiny fixture model: what it stores equals what the
// decoder produces on its own, a cancelled or crashed run resumes from its
// cache without running anything twice, and bad caches and bad inputs are
// refused with messages that name the file (and line).
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>

#include "calibrate/calibrator.h"
#include "fixture_models.h"
#include "util/error.h"
#include "model/model.h"

using namespace calm;
using namespace calm::testing;

namespace {

const char* const kInputs[] = {
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void.",
    "And God said, Let there be light: and there was light.",
    "And God saw the light, that it was good.",
    "And God called the light Day, and the darkness he called Night.",
    "And the evening and the morning were the first day.",
    "And God made the firmament, and divided the waters.",
    "And God called the firmament Heaven.",
    "Let the waters under the heaven be gathered together unto one place.",
    "And God called the dry land Earth.",
};
constexpr size_t kExamples = sizeof kInputs / sizeof kInputs[0];

std::string write_text(const QTemporaryDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.filePath(QString::fromStdString(name)).toStdString();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// A JSONL set of the inputs above, each with a reference (its own text).
std::string write_set(const QTemporaryDir& dir, const std::string& name = "cal.jsonl") {
  std::string text;
  for (const char* input : kInputs) {
    const std::string line = nlohmann::json{{"input", input}, {"reference", input}}.dump();
    text += line + "\n";
  }
  return write_text(dir, name, text);
}

RunSettings small_settings() {
  RunSettings s;
  s.max_new_tokens = 6;
  s.grid = lambda_grid(0.25);  // 1, 0.75, 0.5, 0.25, 0
  return s;
}

std::vector<int> without_eos(const DecodeResult& r) {
  std::vector<int> tokens = r.tokens;
  if (r.stopped_at_eos && !tokens.empty()) tokens.pop_back();
  return tokens;
}

// Everything but the timings, which differ from run to run.
void compare_outputs(const CalibrationRun& a, const CalibrationRun& b) {
  QCOMPARE(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    QVERIFY2(a.outputs[i] && b.outputs[i], qPrintable(QString("example %1 missing").arg(i)));
    QCOMPARE(a.outputs[i]->full, b.outputs[i]->full);
    QCOMPARE(a.outputs[i]->full_flops, b.outputs[i]->full_flops);
    QCOMPARE(a.outputs[i]->early, b.outputs[i]->early);
    QCOMPARE(a.outputs[i]->layers, b.outputs[i]->layers);
    QCOMPARE(a.outputs[i]->flops, b.outputs[i]->flops);
  }
}

size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

template <typename F>
QString error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

}  // namespace

class TestCalibrator : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase();
  void settings_round_trip_through_decode_options();
  void lambda_one_is_the_full_model();
  void outputs_match_the_decoder_and_do_not_depend_on_threads();
  void cancel_then_resume_runs_nothing_twice();
  void torn_last_cache_line_is_recomputed();
  void cache_from_other_settings_is_refused();
  void risk_without_references_names_the_line();
  void decode_error_names_the_line();
  void loss_table_and_speedups();

 private:
  CalibrationRun prepare(const std::string& path, const RunSettings& settings = small_settings()) {
    return Calibrator::prepare(*model_, path, read_jsonl(path).examples, settings);
  }

  std::unique_ptr<Model> model_;
};

// The CLI builds its calibration settings from parsed decoding options
// (RunSettings::from), and a calibration decodes with decode_options(lambda):
// every exit-rule field must survive the trip.
void TestCalibrator::settings_round_trip_through_decode_options() {
  RunSettings s;
  s.measure = Measure::Classifier;
  s.tau = 2.5f;
  s.max_new_tokens = 17;
  s.first_exit_layer = 2;
  s.check_interval = 3;
  s.kv_mode = KvMode::CatchUp;
  s.gate = Gate::State;
  s.gate_threshold = 0.75f;
  const DecodeOptions o = s.decode_options(0.4);
  QCOMPARE(o.lambda, 0.4);
  QVERIFY(o.policy == ExitPolicy::Calm);
  const RunSettings back = RunSettings::from(o);
  QVERIFY(back.measure == s.measure);
  QCOMPARE(back.tau, s.tau);
  QCOMPARE(back.max_new_tokens, s.max_new_tokens);
  QCOMPARE(back.first_exit_layer, s.first_exit_layer);
  QCOMPARE(back.check_interval, s.check_interval);
  QVERIFY(back.kv_mode == s.kv_mode);
  QVERIFY(back.gate == s.gate);
  QCOMPARE(back.gate_threshold, s.gate_threshold);
  QCOMPARE(back.to_json().dump(), s.to_json().dump());
}

void TestCalibrator::initTestCase() {
  model_ = std::make_unique<Model>(load_model(fixture_models_dir() + "/t5-gated-untied-f32"));
}

void TestCalibrator::lambda_one_is_the_full_model() {
  QTemporaryDir dir;
  CalibrationRun run = prepare(write_set(dir));
  QVERIFY(Calibrator::run(*model_, run, "", 2));
  QVERIFY(run.complete());
  Decoder decoder(*model_);
  for (size_t i = 0; i < kExamples; ++i) {
    const DecodeResult full = decoder.generate(kInputs[i], run.settings.decode_options(1.0));
    QCOMPARE(run.outputs[i]->full, without_eos(full));
    QCOMPARE(run.outputs[i]->early[0], without_eos(full));  // grid point 0 is lambda 1
    // The full model uses every layer for every token.
    QCOMPARE(run.outputs[i]->layers[0], static_cast<double>(model_->config.decoder_layers));
    QCOMPARE(run.outputs[i]->flops[0], run.outputs[i]->full_flops);
  }
}

void TestCalibrator::outputs_match_the_decoder_and_do_not_depend_on_threads() {
  QTemporaryDir dir;
  const std::string path = write_set(dir);
  CalibrationRun one = prepare(path), two = prepare(path);
  QVERIFY(Calibrator::run(*model_, one, "", 1));
  QVERIFY(Calibrator::run(*model_, two, "", 2));
  compare_outputs(one, two);
  Decoder decoder(*model_);
  bool some_exit_early = false;
  for (size_t i = 0; i < kExamples; ++i)
    for (size_t p = 0; p < one.settings.grid.size(); ++p) {
      const DecodeResult r = decoder.generate(kInputs[i], one.settings.decode_options(one.settings.grid[p]));
      QCOMPARE(one.outputs[i]->early[p], without_eos(r));
      QCOMPARE(one.outputs[i]->layers[p], r.average_layers());
      some_exit_early |= r.average_layers() < model_->config.decoder_layers;
    }
  QVERIFY(some_exit_early);  // lambda 0 exits at the first layer allowed
}

void TestCalibrator::cancel_then_resume_runs_nothing_twice() {
  QTemporaryDir dir;
  const std::string path = write_set(dir), cache = dir.filePath("run.cache.jsonl").toStdString();
  CalibrationRun reference = prepare(path);
  QVERIFY(Calibrator::run(*model_, reference, "", 2));

  // Cancel from the progress callback once 3 examples are done.
  std::atomic<bool> cancel{false};
  CalibrationRun first = prepare(path);
  const bool complete = Calibrator::run(
      *model_, first, cache, 2, [&](const CalibrationProgress& p) { cancel = cancel || p.done >= 3; }, &cancel);
  QVERIFY(!complete);
  const size_t done = first.finished();
  QVERIFY2(done >= 3 && done < kExamples, qPrintable(QString("finished %1").arg(done)));
  QCOMPARE(count_lines(cache), 1 + done);  // header + one line per finished example

  // Resume: the finished examples come from the cache, only the rest are run.
  CalibrationRun second = prepare(path);
  std::vector<CalibrationProgress> calls;
  QVERIFY(Calibrator::run(*model_, second, cache, 2, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.front().resumed, done);
  QCOMPARE(calls.front().done, done);
  QCOMPARE(calls.size(), 1 + (kExamples - done));  // one call per newly run example
  QCOMPARE(calls.back().done, kExamples);
  QCOMPARE(count_lines(cache), 1 + kExamples);
  compare_outputs(second, reference);

  // A third run finds everything in the cache and runs nothing.
  CalibrationRun third = prepare(path);
  calls.clear();
  QVERIFY(Calibrator::run(*model_, third, cache, 2, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.size(), size_t{1});
  QCOMPARE(calls.front().resumed, kExamples);
  QCOMPARE(count_lines(cache), 1 + kExamples);
  compare_outputs(third, reference);
}

void TestCalibrator::torn_last_cache_line_is_recomputed() {
  QTemporaryDir dir;
  const std::string path = write_set(dir), cache = dir.filePath("torn.cache.jsonl").toStdString();
  CalibrationRun reference = prepare(path);
  QVERIFY(Calibrator::run(*model_, reference, cache, 2));
  // A crash mid-write: the last line loses its end (and its newline).
  const auto size = std::filesystem::file_size(cache);
  std::filesystem::resize_file(cache, size - 20);

  CalibrationRun resumed = prepare(path);
  std::vector<CalibrationProgress> calls;
  QVERIFY(Calibrator::run(*model_, resumed, cache, 1, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.front().resumed, kExamples - 1);
  QCOMPARE(calls.size(), size_t{2});  // the start, and the one example run again
  compare_outputs(resumed, reference);
  QCOMPARE(calls.front().cache_bad_lines, std::vector<size_t>{1 + kExamples});
  // The file is whole again: a header and one line per example, each a
  // checksum and a JSON object (test_calibration_cache checks the checksums).
  std::ifstream in(cache);
  size_t lines = 0;
  for (std::string line; std::getline(in, line); ++lines) QVERIFY(nlohmann::json::accept(line.substr(17)));
  QCOMPARE(lines, 1 + kExamples);
}

void TestCalibrator::cache_from_other_settings_is_refused() {
  QTemporaryDir dir;
  const std::string path = write_set(dir), cache = dir.filePath("other.cache.jsonl").toStdString();
  CalibrationRun run = prepare(path);
  QVERIFY(Calibrator::run(*model_, run, cache, 2));
  const auto size = std::filesystem::file_size(cache);

  RunSettings other = small_settings();
  other.tau = 2.0f;
  CalibrationRun different = prepare(path, other);
  const QString message = error_of([&] { Calibrator::run(*model_, different, cache, 2); });
  QVERIFY2(message.contains(QString::fromStdString(cache)), qPrintable(message));
  // It says which setting changed, and from what.
  QVERIFY2(message.contains("settings.tau: 4.0 in the cache, 2.0 now"), qPrintable(message));
  QCOMPARE(std::filesystem::file_size(cache), size);  // left as it was, not overwritten

  // Another data set (one example fewer) is refused too.
  const std::string shorter = write_text(dir, "short.jsonl", R"({"input": "And God said"})" "\n");
  CalibrationRun other_data = prepare(shorter);
  const QString data_message = error_of([&] { Calibrator::run(*model_, other_data, cache, 2); });
  QVERIFY2(data_message.contains(QString::fromStdString(cache)), qPrintable(data_message));
  QVERIFY2(data_message.contains("data_hash: ") && data_message.contains("examples: "), qPrintable(data_message));
}

void TestCalibrator::risk_without_references_names_the_line() {
  QTemporaryDir dir;
  const std::string path = write_text(dir, "norefs.jsonl",
                                      R"({"input": "And God said", "reference": "God said"})" "\n"
                                      "\n"
                                      R"({"input": "Let there be light"})" "\n");
  const auto examples = read_jsonl(path).examples;
  // Before any model run:
  const QString before = error_of([&] { require_references(examples, path); });
  QVERIFY2(before.contains(QString::fromStdString(path + ":3:")), qPrintable(before));
  QVERIFY(before.contains("reference"));
  // And from the losses of a finished run:
  RunSettings s = small_settings();
  s.grid = {1.0};
  CalibrationRun run = Calibrator::prepare(*model_, path, examples, s);
  QVERIFY(Calibrator::run(*model_, run, "", 1));
  const QString after = error_of([&] { run.loss_table(model_->tokenizer, Consistency::Risk, Metric::RougeL); });
  QVERIFY2(after.contains(QString::fromStdString(path + ":3:")), qPrintable(after));
  // Textual consistency needs no references.
  QCOMPARE(run.loss_table(model_->tokenizer, Consistency::Textual, Metric::RougeL).examples(), size_t{2});
}

void TestCalibrator::decode_error_names_the_line() {
  // read_jsonl refuses an empty input (a bad line); built by hand, it reaches
  // the decoder, whose error must name the example's line.
  const std::string path = "empty.jsonl";
  std::vector<Example> examples(3);
  examples[0].input = "And God said";
  examples[1].input = "Let there be light";
  for (size_t i = 0; i < examples.size(); ++i) examples[i].line = i + 1;
  CalibrationRun run = Calibrator::prepare(*model_, path, examples, small_settings());
  const QString message = error_of([&] { Calibrator::run(*model_, run, "", 2); });
  QVERIFY2(message.contains(QString::fromStdString(path + ":3:")), qPrintable(message));
  QVERIFY(message.contains("empty"));
}

void TestCalibrator::loss_table_and_speedups() {
  QTemporaryDir dir;
  CalibrationRun run = prepare(write_set(dir));
  QVERIFY(Calibrator::run(*model_, run, "", 2));
  const LossTable table = run.loss_table(model_->tokenizer, Consistency::Textual, Metric::Token);
  QCOMPARE(table.lambdas, run.settings.grid);
  QCOMPARE(table.examples(), kExamples);
  QCOMPARE(table.mean_loss(0), 0.0);  // the full model against itself
  QCOMPARE(run.measured_speedup(0), 1.0);
  QCOMPARE(run.flops_speedup(0), 1.0);
  // A subset picks exactly those examples.
  const LossTable two = run.loss_table(model_->tokenizer, Consistency::Textual, Metric::Token, {1, 4});
  QCOMPARE(two.examples(), size_t{2});
  QCOMPARE(two.losses.back()[1], table.losses.back()[4]);
  // Words (the default) score the detokenized text; pieces the ids as generated.
  const LossTable words = run.loss_table(model_->tokenizer, Consistency::Textual, Metric::RougeL);
  const LossTable pieces =
      run.loss_table(model_->tokenizer, Consistency::Textual, Metric::RougeL, {}, TextUnit::Pieces);
  for (size_t p = 0; p < run.settings.grid.size(); ++p)
    for (size_t k = 0; k < kExamples; ++k) {
      const ExampleOutputs& o = *run.outputs[k];
      WordIds ids;
      const TokenIds early = ids(model_->tokenizer.decode(o.early[p]));
      QCOMPARE(words.losses[p][k], textual_loss(Metric::RougeL, early, ids(model_->tokenizer.decode(o.full))));
      QCOMPARE(pieces.losses[p][k], textual_loss(Metric::RougeL, o.early[p], o.full));
      // One pair at a time (what `calm serve`'s guarantee monitor records)
      // scores exactly as the table does.
      QCOMPARE(textual_consistency_loss(model_->tokenizer, Metric::RougeL, TextUnit::Words, o.early[p], o.full),
               words.losses[p][k]);
      QCOMPARE(textual_consistency_loss(model_->tokenizer, Metric::RougeL, TextUnit::Pieces, o.early[p], o.full),
               pieces.losses[p][k]);
    }
}

QTEST_APPLESS_MAIN(TestCalibrator)
#include "test_calibrator.moc"
