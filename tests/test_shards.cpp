// Calibration in shards (core/calibrate/shard.h, merge.h): the seeded split
// puts every example in exactly one shard with sizes that differ by one at
// most, Calibrator::run computes only the shard's examples, and merge_caches
// joins the shards' caches into the very outputs of one run, refusing a line
// whose example is not in its cache's shard. The end-to-end comparison of
// reports is tests/cli_calibrate_shards.sh. Files live in a QTemporaryDir.
#include <QTemporaryDir>
#include <QtTest>

#include <set>

#include "calibrate/cache_file.h"
#include "calibrate/calibrator.h"
#include "calibrate/merge.h"
#include "calibrate/shard.h"
#include "error_assertions.h"
#include "fixture_models.h"
#include "model/model.h"

using namespace calm;

namespace {

// A run of `n` examples over a 3-point grid, no model needed (merge never decodes).
CalibrationRun bare_run(size_t n) {
  CalibrationRun run;
  run.model_hash = "00000000000000aa";
  run.data_hash = "00000000000000bb";
  run.data_path = "cal.jsonl";
  run.settings.max_new_tokens = 4;
  run.settings.grid = {1.0, 0.5, 0.0};
  run.examples.resize(n);
  for (size_t i = 0; i < n; ++i) run.examples[i].line = i + 1;
  run.outputs.assign(n, std::nullopt);
  return run;
}

// Distinct outputs per example, so a mix-up shows.
ExampleOutputs outputs_of(size_t i) {
  ExampleOutputs o;
  o.full = {int(i), 1, 2};
  o.early = {o.full, {int(i), 1}, {int(i)}};
  o.layers = {3.0, 2.0, 1.0};
  o.seconds = {0.3, 0.2, 0.1};
  o.flops = {3.0, 2.0, 1.0};
  return o;
}

}  // namespace

class TestShards : public QObject {
  Q_OBJECT
 private slots:
  void the_split_is_a_partition();
  void the_seed_changes_the_split();
  void bad_shard_specs_are_refused();
  void merge_refuses_an_example_outside_its_shard();
  void merge_restores_every_output();
  void a_shard_runs_only_its_examples();
};

// Sizes 0, 1, odd and larger than the count, counts from 1 to more than n.
void TestShards::the_split_is_a_partition() {
  for (size_t n : {0, 1, 2, 7, 30, 1001})
    for (size_t count : {1, 2, 3, 4, 9}) {
      std::vector<int> seen(n, 0);
      size_t smallest = n, largest = 0;
      for (size_t index = 1; index <= count; ++index) {
        const std::vector<size_t> part = Shard{index, count, 5}.indices(n);
        QVERIFY(std::is_sorted(part.begin(), part.end()));
        for (size_t i : part) ++seen.at(i);
        smallest = std::min(smallest, part.size());
        largest = std::max(largest, part.size());
        const std::vector<bool> in = Shard{index, count, 5}.membership(n);
        QCOMPARE(size_t(std::count(in.begin(), in.end(), true)), part.size());
      }
      for (size_t i = 0; i < n; ++i) QCOMPARE(seen[i], 1);  // every example in exactly one shard
      // n / count rounded down or up: sizes differ by one at most.
      QCOMPARE(smallest, n / count);
      QCOMPARE(largest, (n + count - 1) / count);
    }
}

void TestShards::the_seed_changes_the_split() {
  const auto a = Shard{1, 3, 0}.indices(30), b = Shard{1, 3, 1}.indices(30);
  QCOMPARE(a.size(), size_t(10));
  QVERIFY(a != b);
  QCOMPARE((Shard{1, 3, 0}.indices(30)), a);  // the same seed, the same split
  // Not the first lines: the shipped sets are in corpus order.
  QVERIFY(a != (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

void TestShards::bad_shard_specs_are_refused() {
  const Shard s = Shard::parse("2/4", 9);
  QCOMPARE(s.index, size_t(2));
  QCOMPARE(s.count, size_t(4));
  QCOMPARE(s.seed, uint64_t(9));
  QCOMPARE(s.name(), std::string("2/4"));
  QCOMPARE(Shard::from_json(s.to_json(), "x"), s);
  for (const char* bad : {"0/4", "5/4", "4", "/4", "2/", "a/4", "2/4/1", "-1/4", " 1/4", "1/100001", "1/9999999"})
    VERIFY_ERROR(Shard::parse(bad), std::string("'") + bad + "'", "I/N");
  VERIFY_ERROR(Shard::from_json({{"index", 3}, {"count", 2}, {"seed", 0}}, "c.jsonl"), "c.jsonl", "3/2");
  VERIFY_ERROR(Shard::from_json({{"index", 1}, {"count", -2}, {"seed", 0}}, "c.jsonl"), "c.jsonl", "shard.count");
  VERIFY_ERROR(Shard::from_json("1/2", "c.jsonl"), "c.jsonl", "shard.index");
}

// A line that carries a valid checksum but an example of the other shard (as a
// hand-made or mislabelled cache would): the merge names the file, the line
// and the example.
void TestShards::merge_refuses_an_example_outside_its_shard() {
  QTemporaryDir dir;
  const size_t n = 10;
  const Shard first{1, 2, 0}, second{2, 2, 0};
  const std::string a = dir.filePath("a.jsonl").toStdString(), b = dir.filePath("b.jsonl").toStdString();
  const size_t stray = second.indices(n).front();
  {
    CalibrationRun run = bare_run(n);
    run.shard = first;
    CalibrationCache cache(a, run);
    for (size_t i : first.indices(n)) cache.append(i, outputs_of(i));
    cache.append(stray, outputs_of(stray));  // line 2 + 5 = 7
  }
  {
    CalibrationRun run = bare_run(n);
    run.shard = second;
    CalibrationCache cache(b, run);
    for (size_t i : second.indices(n)) cache.append(i, outputs_of(i));
  }
  CalibrationRun whole = bare_run(n);
  VERIFY_ERROR(merge_caches({a, b}, whole), a + ":7: example " + std::to_string(stray),
               "(line " + std::to_string(stray + 1) + " of cal.jsonl)", "is not in shard 1/2");
  QCOMPARE(whole.finished(), size_t(0));  // nothing changed
}

void TestShards::merge_restores_every_output() {
  QTemporaryDir dir;
  const size_t n = 7;
  std::vector<std::string> paths;
  for (size_t index = 3; index >= 1; --index) {  // written and given in another order than the split's
    const Shard s{index, 3, 4};
    CalibrationRun run = bare_run(n);
    run.shard = s;
    paths.push_back(dir.filePath(QString("s%1.jsonl").arg(index)).toStdString());
    CalibrationCache cache(paths.back(), run);
    const auto part = s.indices(n);
    for (auto it = part.rbegin(); it != part.rend(); ++it) cache.append(*it, outputs_of(*it));
  }
  CalibrationRun whole = bare_run(n);
  merge_caches(paths, whole);
  QVERIFY(whole.complete());
  for (size_t i = 0; i < n; ++i) {
    QCOMPARE(whole.outputs[i]->full, outputs_of(i).full);
    QCOMPARE(whole.outputs[i]->early, outputs_of(i).early);
  }
  // A cache of a run with other settings names what differs.
  CalibrationRun other = bare_run(n);
  other.settings.tau = 1.5;
  VERIFY_ERROR(merge_caches(paths, other), paths.front(), "settings.tau");
  CalibrationRun sharded = bare_run(n);
  sharded.shard = Shard{1, 3, 4};
  VERIFY_ERROR(merge_caches(paths, sharded), "not shard 1/3");
}

// With the fixture model: only the shard's examples are decoded, each equal
// to what the whole run decodes, and resuming from the shard's cache runs nothing.
void TestShards::a_shard_runs_only_its_examples() {
  const Model model = load_model(testing::fixture_models_dir() + "/t5-gated-untied-f32");
  std::vector<Example> examples;
  for (const char* input : {"And God said", "Let there be light", "and there was light", "the evening",
                            "the morning"}) {
    Example e;
    e.input = input;
    e.line = examples.size() + 1;
    examples.push_back(e);
  }
  RunSettings s;
  s.max_new_tokens = 4;
  s.grid = lambda_grid(0.5);
  CalibrationRun whole = Calibrator::prepare(model, "cal.jsonl", examples, s);
  QVERIFY(Calibrator::run(model, whole, "", 1));

  QTemporaryDir dir;
  const std::string cache = dir.filePath("shard.jsonl").toStdString();
  CalibrationRun part = Calibrator::prepare(model, "cal.jsonl", examples, s);
  part.shard = Shard{2, 2, 0};
  std::vector<CalibrationProgress> calls;
  QVERIFY(Calibrator::run(model, part, cache, 1, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.back().total, size_t(2));  // 5 examples in 2 shards: 3 and 2
  QCOMPARE(calls.back().done, size_t(2));
  const auto mine = part.shard->membership(5);
  for (size_t i = 0; i < 5; ++i) {
    QCOMPARE(part.outputs[i].has_value(), bool(mine[i]));
    if (mine[i]) QCOMPARE(part.outputs[i]->early, whole.outputs[i]->early);
  }
  CalibrationRun again = Calibrator::prepare(model, "cal.jsonl", examples, s);
  again.shard = part.shard;
  calls.clear();
  QVERIFY(Calibrator::run(model, again, cache, 1, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.front().resumed, size_t(2));
  QCOMPARE(calls.front().done, size_t(2));
}

QTEST_GUILESS_MAIN(TestShards)
#include "test_shards.moc"
