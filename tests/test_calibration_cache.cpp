// The calibration cache (core/calibrate/cache_file.h): a damaged or edited
// line is skipped and its example run again while the lines around it are
// kept, a second run on the same file is refused (flock), a refusal says which
// setting changed, and the cache is never a link or a special file. Files
// live in a QTemporaryDir.
#include <sys/stat.h>

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "calibrate/cache_file.h"
#include "calibrate/calibrator.h"
#include "error_assertions.h"
#include "fixture_models.h"
#include "util/hash.h"
#include "model/model.h"

using namespace calm;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << "\n";
}

// The file's lines all carry a checksum that matches (header seeded with the
// empty string's hash, the rest with the header's).
bool all_checksums_match(const std::string& path) {
  const auto lines = read_lines(path);
  if (lines.empty()) return false;
  uint64_t seed = fnv1a64("");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string text = lines[i].substr(17);
    if (lines[i].substr(0, 16) != hash_hex(fnv1a64(text, seed))) return false;
    if (i == 0) seed = fnv1a64(text);
  }
  return true;
}

}  // namespace

class TestCalibrationCache : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase();
  void damaged_lines_are_skipped_and_the_rest_kept();
  void an_edited_line_fails_its_checksum();
  void a_second_run_on_the_same_cache_is_refused();
  void the_refusal_says_what_changed();
  void older_format_and_special_files_are_refused();

 private:
  CalibrationRun prepare() const {
    std::vector<Example> examples;
    for (const char* input : {"And God said", "Let there be light", "and there was light", "the evening",
                              "the morning", "the first day"}) {
      Example e;
      e.input = input;
      e.line = examples.size() + 1;
      examples.push_back(e);
    }
    RunSettings s;
    s.max_new_tokens = 4;
    s.grid = lambda_grid(0.5);  // 1, 0.5, 0
    return Calibrator::prepare(*model_, "cal.jsonl", examples, s);
  }

  // A finished run and its cache file.
  std::string filled_cache(const QTemporaryDir& dir, CalibrationRun& run) const {
    const std::string cache = dir.filePath("run.cache.jsonl").toStdString();
    run = prepare();
    if (!Calibrator::run(*model_, run, cache, 1)) qFatal("calibration cancelled");
    return cache;
  }

  std::unique_ptr<Model> model_;
};

void TestCalibrationCache::initTestCase() {
  model_ = std::make_unique<Model>(load_model(testing::fixture_models_dir() + "/t5-gated-untied-f32"));
}

// Before: a bad line in the middle silently discarded every valid line after it.
void TestCalibrationCache::damaged_lines_are_skipped_and_the_rest_kept() {
  QTemporaryDir dir;
  CalibrationRun reference;
  const std::string cache = filled_cache(dir, reference);
  QVERIFY(all_checksums_match(cache));
  auto lines = read_lines(cache);
  QCOMPARE(lines.size(), size_t(7));  // header + 6 examples
  lines[2] = lines[2].substr(0, lines[2].size() / 2);  // line 3: cut in half
  lines[4] = "not even JSON";                          // line 5: garbage
  write_lines(cache, lines);

  CalibrationRun resumed = prepare();
  std::vector<CalibrationProgress> calls;
  QVERIFY(Calibrator::run(*model_, resumed, cache, 1, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.front().resumed, size_t(4));                          // the lines after the bad ones too
  QCOMPARE(calls.front().cache_bad_lines, (std::vector<size_t>{3, 5}));
  QCOMPARE(calls.back().done, size_t(6));
  for (size_t i = 0; i < reference.outputs.size(); ++i) QCOMPARE(resumed.outputs[i]->early, reference.outputs[i]->early);
  // Rewritten without the damaged lines; the two examples appended again.
  QCOMPARE(read_lines(cache).size(), size_t(7));
  QVERIFY(all_checksums_match(cache));
}

// Before: an edited line was trusted, so editing the losses' inputs could make
// any lambda pass.
void TestCalibrationCache::an_edited_line_fails_its_checksum() {
  QTemporaryDir dir;
  CalibrationRun reference;
  const std::string cache = filled_cache(dir, reference);
  auto lines = read_lines(cache);
  // Make example's early outputs equal to the full output: zero loss everywhere.
  const std::string text = lines[1].substr(17);
  nlohmann::json j = nlohmann::json::parse(text);
  for (auto& early : j["early"]) early = j["full"];
  j["early"][2] = nlohmann::json::array({999});
  lines[1] = lines[1].substr(0, 17) + j.dump();
  // And a line copied from a cache of other settings (its checksum has the
  // other header's seed): refused too.
  lines[3] = hash_hex(fnv1a64(lines[3].substr(17), fnv1a64("{}"))) + " " + lines[3].substr(17);
  write_lines(cache, lines);

  CalibrationRun resumed = prepare();
  std::vector<CalibrationProgress> calls;
  QVERIFY(Calibrator::run(*model_, resumed, cache, 1, [&](const CalibrationProgress& p) { calls.push_back(p); }));
  QCOMPARE(calls.front().cache_bad_lines, (std::vector<size_t>{2, 4}));
  const size_t edited = j["i"].get<size_t>();
  QCOMPARE(resumed.outputs[edited]->early, reference.outputs[edited]->early);  // recomputed, not the edit
}

// Before: two runs on one cache interleaved their lines.
void TestCalibrationCache::a_second_run_on_the_same_cache_is_refused() {
  QTemporaryDir dir;
  CalibrationRun run;
  const std::string cache = filled_cache(dir, run);
  const auto before = read_lines(cache);
  {
    CalibrationRun first = prepare();
    const CalibrationCache held(cache, first);  // another run holds the lock (flock: per open file)
    QCOMPARE(held.loaded(), size_t(6));
    CalibrationRun second = prepare();
    VERIFY_ERROR(Calibrator::run(*model_, second, cache, 1), cache, "in use by another calibration");
  }
  CalibrationRun third = prepare();
  QVERIFY(Calibrator::run(*model_, third, cache, 1));  // released with the first
  QCOMPARE(read_lines(cache), before);
}

void TestCalibrationCache::the_refusal_says_what_changed() {
  QTemporaryDir dir;
  CalibrationRun run;
  const std::string cache = filled_cache(dir, run);
  CalibrationRun other = prepare();
  other.settings.max_new_tokens = 5;
  other.settings.measure = Measure::State;
  other.model_hash = "0123456789abcdef";
  VERIFY_ERROR(Calibrator::run(*model_, other, cache, 1), cache, "other settings",
               "settings.max_new_tokens: 4 in the cache, 5 now", "settings.measure: \"softmax\" in the cache, \"state\" now",
               "model_hash: \"" + run.model_hash + "\" in the cache, \"0123456789abcdef\" now");
  QCOMPARE(cache_header_differences(cache_header(run), cache_header(run)), std::string());
}

void TestCalibrationCache::older_format_and_special_files_are_refused() {
  QTemporaryDir dir;
  const std::string old = dir.filePath("old.jsonl").toStdString();
  write_lines(old, {R"({"calm_calibration_cache": 1})"});
  CalibrationRun run = prepare();
  VERIFY_ERROR(Calibrator::run(*model_, run, old, 1), old, "older format");
  // An edited header fails its checksum.
  CalibrationRun filled;
  const std::string cache = filled_cache(dir, filled);
  auto lines = read_lines(cache);
  lines[0][20] = lines[0][20] == 'x' ? 'y' : 'x';
  write_lines(cache, lines);
  VERIFY_ERROR(Calibrator::run(*model_, run, cache, 1), cache + ":1", "checksum");

  const std::string fifo = dir.filePath("fifo").toStdString();
  QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
  VERIFY_ERROR(Calibrator::run(*model_, run, fifo, 1), fifo, "a FIFO");
  const std::string link = dir.filePath("link.jsonl").toStdString();
  fs::create_symlink(cache, link);
  VERIFY_ERROR(Calibrator::run(*model_, run, link, 1), link, "symbolic link");
}

QTEST_GUILESS_MAIN(TestCalibrationCache)
#include "test_calibration_cache.moc"
