// The thresholds file: a write/read round trip keeps every field, and each
// wrong field (missing, wrong type, out of range, unknown name) is refused
// with a message naming the file and the key.
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include "calibrate/thresholds.h"
#include "util/error.h"

using namespace calm;
using nlohmann::json;

namespace {

// Every field away from its default, so a field the reader forgot shows.
Thresholds sample() {
  Thresholds t;
  t.model_name = "kjv2web";
  t.model_dir = "/opt/calm/models/kjv2web";
  t.model_hash = "0123456789abcdef";
  t.measure = Measure::State;
  t.tau = 2.5;
  t.lambda = 0.35;
  t.delta = 0.25;
  t.epsilon = 0.1;
  t.consistency = Consistency::Risk;
  t.metric = Metric::Bleu;
  t.method = CalibrationMethod::Bentkus;
  t.max_new_tokens = 48;
  t.first_exit_layer = 2;
  t.check_interval = 3;
  t.kv_mode = KvMode::Exact;
  t.grid_step = 0.01;
  t.data_path = "/data/cal.jsonl";
  t.data_hash = "fedcba9876543210";
  t.examples = 1500;
  t.created = "2024-05-01T12:34:56Z";
  t.calibration_mean_loss = 0.0123;
  t.calibration_layers = 3.75;
  t.calibration_speedup = 2.25;
  t.calibration_flops_speedup = 2.5;
  return t;
}

std::string write_json(const QTemporaryDir& dir, const std::string& text) {
  const std::string path = dir.filePath("thresholds.json").toStdString();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

QString error_reading(const std::string& path) {
  try {
    read_thresholds(path);
  } catch (const Error& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

// Sets (or, with a null `value` and erase, removes) the dotted key in j.
void edit(json& j, const std::string& key, const json& value, bool erase) {
  json* target = &j;
  std::string name = key;
  const auto dot = key.find('.');
  if (dot != std::string::npos) {
    target = &j[key.substr(0, dot)];
    name = key.substr(dot + 1);
  }
  if (erase)
    target->erase(name);
  else
    (*target)[name] = value;
}

}  // namespace

class TestThresholds : public QObject {
  Q_OBJECT

 private slots:
  void round_trip();
  void boundaries_accepted();
  void invalid_field_names_the_key_data();
  void invalid_field_names_the_key();
  void every_missing_key_is_named();
  void guarantee_is_stated();
  void files_written_before_the_rename_load();
  void crc_file_states_its_guarantee_and_monotonicity();
  void crc_file_checked();
  void method_and_pvalue_method();
  void not_json_or_not_an_object();
  void oversized_file_refused();
  void missing_file_named();
  void decode_options_follow_the_file();
};

void TestThresholds::round_trip() {
  QTemporaryDir dir;
  const std::string path = dir.filePath("t.json").toStdString();
  const Thresholds t = sample();
  write_thresholds(t, path);
  const Thresholds r = read_thresholds(path);
  QCOMPARE(r.model_name, t.model_name);
  QCOMPARE(r.model_dir, t.model_dir);
  QCOMPARE(r.model_hash, t.model_hash);
  QVERIFY(r.measure == t.measure);
  QCOMPARE(r.tau, t.tau);
  QCOMPARE(r.lambda, t.lambda);
  QCOMPARE(r.delta, t.delta);
  QCOMPARE(r.epsilon, t.epsilon);
  QVERIFY(r.consistency == t.consistency);
  QVERIFY(r.metric == t.metric);
  QVERIFY(r.method == t.method);
  QCOMPARE(r.max_new_tokens, t.max_new_tokens);
  QCOMPARE(r.first_exit_layer, t.first_exit_layer);
  QCOMPARE(r.check_interval, t.check_interval);
  QVERIFY(r.kv_mode == t.kv_mode);
  QCOMPARE(r.grid_step, t.grid_step);
  QCOMPARE(r.data_path, t.data_path);
  QCOMPARE(r.data_hash, t.data_hash);
  QCOMPARE(r.examples, t.examples);
  QCOMPARE(r.created, t.created);
  QCOMPARE(r.calibration_mean_loss, t.calibration_mean_loss);
  QCOMPARE(r.calibration_layers, t.calibration_layers);
  QCOMPARE(r.calibration_speedup, t.calibration_speedup);
  QCOMPARE(r.calibration_flops_speedup, t.calibration_flops_speedup);
  // The file names its format first, and no temporary file is left behind.
  std::ifstream in(path);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  QCOMPARE(second, std::string(R"(  "format": "calm-thresholds",)"));
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"t.json"});
  // Writing again replaces the file.
  Thresholds changed = t;
  changed.lambda = 0.9;
  write_thresholds(changed, path);
  QCOMPARE(read_thresholds(path).lambda, 0.9);
}

void TestThresholds::boundaries_accepted() {
  QTemporaryDir dir;
  json j = thresholds_to_json(sample());
  for (double x : {0.0, 1.0}) {
    j["lambda"] = x;
    j["delta"] = x;
    j["epsilon"] = x;
    QCOMPARE(read_thresholds(write_json(dir, j.dump())).lambda, x);
  }
  QCOMPARE(iso8601_utc_now().size(), size_t{20});
  j["created"] = iso8601_utc_now();
  QCOMPARE(read_thresholds(write_json(dir, j.dump())).created, j["created"].get<std::string>());
}

void TestThresholds::invalid_field_names_the_key_data() {
  QTest::addColumn<QString>("key");
  QTest::addColumn<QString>("value");  // JSON text of the bad value
  QTest::addColumn<QString>("says");   // a word the message must contain
  auto row = [](const char* key, const char* value, const char* says) {
    QTest::addRow("%s=%s", key, value) << key << value << says;
  };
  row("format", R"("calm-report")", "calm-thresholds");
  row("version", "2", "not supported");
  row("version", R"("1")", "integer");
  row("model", "[]", "object");
  row("model.name", "7", "string");
  row("model.hash", R"("xyz")", "hex");
  row("model.hash", R"("0123456789ABCDEF")", "hex");
  row("measure", R"("entropy")", "entropy");
  row("tau", "-1", "outside");
  row("tau", R"("4")", "number");
  row("lambda", "1.5", "outside");
  row("lambda", "-0.1", "outside");
  row("lambda", "null", "number");
  row("delta", "2", "outside");
  row("epsilon", "-0.5", "outside");
  row("consistency", R"("semantic")", "semantic");
  row("metric", R"("meteor")", "meteor");
  row("metric_unit", R"("letters")", "letters");
  row("certification", R"("maybe")", "neither");
  row("pvalue_method", R"("wilson")", "wilson");
  row("method", R"("bonferroni")", "bonferroni");
  row("pvalue_method", R"("crc")", "crc");  // not a p-value; and not the method (bentkus)
  row("max_new_tokens", "0", "outside");
  row("max_new_tokens", "2.5", "whole");
  row("first_exit_layer", "0", "outside");
  row("check_interval", "-1", "outside");
  row("check_interval", "1e30", "whole");
  row("kv_mode", R"("lazy")", "lazy");
  row("grid_step", "0", "above 0");
  row("grid_step", "1.5", "outside");
  row("calibration.path", "123", "string");
  row("calibration.hash", R"("")", "empty");
  row("calibration.examples", "0", "outside");
  row("calibration.examples", "-3", "outside");
  row("created", R"("yesterday")", "ISO 8601");
  row("created", R"("2024-05-01 12:00:00")", "ISO 8601");
  row("on_calibration_set.mean_loss", "1.2", "outside");
  row("on_calibration_set.average_layers", "-1", "outside");
  row("on_calibration_set.measured_speedup", R"("fast")", "number");
  row("on_calibration_set.flops_speedup", "true", "number");
}

void TestThresholds::invalid_field_names_the_key() {
  QFETCH(QString, key);
  QFETCH(QString, value);
  QFETCH(QString, says);
  QTemporaryDir dir;
  json j = thresholds_to_json(sample());
  edit(j, key.toStdString(), json::parse(value.toStdString()), false);
  const std::string path = write_json(dir, j.dump(2));
  const QString message = error_reading(path);
  QVERIFY2(message.startsWith(QString::fromStdString(path) + ": "), qPrintable(message));
  QVERIFY2(message.contains("key '" + key + "'"), qPrintable(message));
  QVERIFY2(message.contains(says), qPrintable(message));
}

void TestThresholds::every_missing_key_is_named() {
  QTemporaryDir dir;
  const json full = thresholds_to_json(sample());
  std::vector<std::string> keys;
  for (const auto& [name, value] : full.items()) {
    keys.push_back(name);
    if (value.is_object())
      for (const auto& inner : value.items()) keys.push_back(name + "." + inner.key());
  }
  QCOMPARE(keys.size(), size_t{23 + 3 + 3 + 4});  // top level, model, calibration, on_calibration_set
  for (const std::string& key : keys) {
    if (key == "method" || key == "pvalue_method") continue;  // either names it: method_and_pvalue_method
    if (key == "guarantee") continue;    // informational, checked in guarantee_is_stated
    if (key == "metric_unit") continue;  // optional, checked in files_written_before_the_rename_load
    if (key == "certification") continue;  // optional, checked in guarantee_is_stated
    json j = full;
    edit(j, key, nullptr, true);
    const QString message = error_reading(write_json(dir, j.dump()));
    QVERIFY2(message.contains(QString::fromStdString("key '" + key + "' missing")), qPrintable(message));
  }
}

void TestThresholds::guarantee_is_stated() {
  QTemporaryDir dir;
  json j = thresholds_to_json(sample());
  const std::string sentence = j.at("guarantee").get<std::string>();
  // The sample has epsilon 0.1 and risk bleu: the probability is over the
  // calibration draw, the bound is on the expected loss over new inputs.
  QVERIFY2(sentence.find("probability at least 0.9 over the draw of the calibration set") != std::string::npos,
           sentence.c_str());
  QVERIFY2(sentence.find("the expected risk bleu loss (on words) at lambda 0.35") != std::string::npos, sentence.c_str());
  QVERIFY2(sentence.find("over new inputs") != std::string::npos, sentence.c_str());
  // It is not read back: a file without it loads.
  j.erase("guarantee");
  QCOMPARE(read_thresholds(write_json(dir, j.dump())).lambda, sample().lambda);
  // Certified unless chosen after seeing the losses; an exploratory file says
  // so, states no guarantee, and reads back as exploratory.
  QCOMPARE(j.at("certification").get<std::string>(), std::string("certified"));
  Thresholds exploring = sample();
  exploring.exploratory = true;
  const json e = thresholds_to_json(exploring);
  QCOMPARE(e.at("certification").get<std::string>(), std::string("exploratory"));
  QVERIFY(e.at("guarantee").get<std::string>().rfind("None:", 0) == 0);
  QVERIFY(read_thresholds(write_json(dir, e.dump())).exploratory);
  j.erase("certification");  // files before the key: written by the CLI, certified
  QVERIFY(!read_thresholds(write_json(dir, j.dump())).exploratory);
}

void TestThresholds::files_written_before_the_rename_load() {
  // Files written before "on_calibration_set" kept the same object as "expected".
  QTemporaryDir dir;
  json j = thresholds_to_json(sample());
  j["expected"] = j.at("on_calibration_set");
  j.erase("on_calibration_set");
  j.erase("guarantee");
  j.erase("metric_unit");
  const Thresholds r = read_thresholds(write_json(dir, j.dump()));
  QVERIFY(r.metric_unit == TextUnit::Pieces);  // they scored piece ids
  QVERIFY(sample().metric_unit == TextUnit::Words);
  QCOMPARE(r.calibration_mean_loss, sample().calibration_mean_loss);
  QCOMPARE(r.calibration_flops_speedup, sample().calibration_flops_speedup);
  // An old file's bad value is named by its old key.
  j["expected"]["mean_loss"] = 2.0;
  QVERIFY(error_reading(write_json(dir, j.dump())).contains("key 'expected.mean_loss'"));
}

Thresholds crc_sample() {
  Thresholds t = sample();
  t.method = CalibrationMethod::Crc;
  t.monotonicity.examples_broken = 37;
  t.monotonicity.pairs_broken = 0.03125;
  return t;
}

void TestThresholds::crc_file_states_its_guarantee_and_monotonicity() {
  QTemporaryDir dir;
  const json j = thresholds_to_json(crc_sample());
  QCOMPARE(j.at("method").get<std::string>(), std::string("crc"));
  // No epsilon and no p-value: the guarantee is in expectation.
  QVERIFY(!j.contains("epsilon"));
  QVERIFY(!j.contains("pvalue_method"));
  QCOMPARE(j.at("monotonicity").at("holds").get<bool>(), false);
  QCOMPARE(j.at("monotonicity").at("examples_broken").get<int>(), 37);
  const std::string sentence = j.at("guarantee").get<std::string>();
  QVERIFY2(sentence.rfind("Averaged over the draw of the calibration set and a new input from the same distribution, "
                          "the expected risk bleu loss (on words) at lambda 0.35 is at most 0.25", 0) == 0,
           sentence.c_str());
  QVERIFY2(sentence.find("not with probability 1 - epsilon") != std::string::npos, sentence.c_str());
  QVERIFY2(sentence.find("did NOT on the calibration set: 37 of 1500 examples") != std::string::npos, sentence.c_str());
  QVERIFY2(sentence.find("monotone envelope") != std::string::npos, sentence.c_str());
  const Thresholds r = read_thresholds(write_json(dir, j.dump()));
  QVERIFY(r.method == CalibrationMethod::Crc);
  QCOMPARE(r.monotonicity.examples_broken, size_t{37});
  QCOMPARE(r.monotonicity.pairs_broken, 0.03125);
  QCOMPARE(r.lambda, 0.35);
  // Monotone losses: the sentence says the assumption held.
  Thresholds monotone = crc_sample();
  monotone.monotonicity = Monotonicity{};
  const std::string held = guarantee_sentence(monotone);
  QVERIFY2(held.find("as they did on every calibration example") != std::string::npos, held.c_str());
  QVERIFY2(held.find("NOT") == std::string::npos, held.c_str());
  QVERIFY(read_thresholds(write_json(dir, thresholds_to_json(monotone).dump())).monotonicity.holds());
  // Exploratory: no epsilon to blame under crc.
  Thresholds exploring = crc_sample();
  exploring.exploratory = true;
  QVERIFY(guarantee_sentence(exploring).rfind("None: delta was chosen after seeing", 0) == 0);
  // A Learn-then-Test file says which p-value and keeps epsilon.
  const std::string ltt = guarantee_sentence(sample());
  QVERIFY2(ltt.find("(Learn then Test, bentkus)") != std::string::npos, ltt.c_str());
}

void TestThresholds::crc_file_checked() {
  QTemporaryDir dir;
  const json good = thresholds_to_json(crc_sample());
  const auto refused = [&](json j, const QString& key, const QString& says) {
    const QString message = error_reading(write_json(dir, j.dump()));
    QVERIFY2(message.contains("key '" + key + "'") && message.contains(says), qPrintable(message));
  };
  json j = good;
  j["epsilon"] = 0.05;
  refused(j, "epsilon", "no epsilon");
  j = good;
  j.erase("monotonicity");
  refused(j, "monotonicity", "missing");
  j = good;
  j["monotonicity"]["holds"] = true;  // but 37 examples broke it
  refused(j, "monotonicity.holds", "disagrees");
  j = good;
  j["monotonicity"]["examples_broken"] = 1501;
  refused(j, "monotonicity.examples_broken", "more than the 1500");
  j = good;
  j["monotonicity"]["pairs_broken"] = 0.0;
  refused(j, "monotonicity.pairs_broken", "exactly when");
  j = good;
  j["monotonicity"]["pairs_broken"] = 1.5;
  refused(j, "monotonicity.pairs_broken", "outside");
  j = good;
  j["pvalue_method"] = "hb";
  refused(j, "pvalue_method", "is not the method");
}

void TestThresholds::method_and_pvalue_method() {
  // Files written before "method" name only "pvalue_method" (Learn then Test).
  QTemporaryDir dir;
  json j = thresholds_to_json(sample());
  QCOMPARE(j.at("method").get<std::string>(), std::string("bentkus"));
  QCOMPARE(j.at("pvalue_method").get<std::string>(), std::string("bentkus"));
  j.erase("method");
  j["pvalue_method"] = "wsr";
  QVERIFY(read_thresholds(write_json(dir, j.dump())).method == CalibrationMethod::Wsr);
  // "method" alone is enough.
  j = thresholds_to_json(sample());
  j.erase("pvalue_method");
  QVERIFY(read_thresholds(write_json(dir, j.dump())).method == CalibrationMethod::Bentkus);
  // Neither: the older key is named.
  j.erase("method");
  QVERIFY(error_reading(write_json(dir, j.dump())).contains("key 'pvalue_method' missing"));
}

void TestThresholds::not_json_or_not_an_object() {
  QTemporaryDir dir;
  std::string path = write_json(dir, "{\"format\": ");
  QVERIFY(error_reading(path).contains(QString::fromStdString(path) + ": not valid JSON"));
  path = write_json(dir, "[1, 2]");
  QVERIFY(error_reading(path).contains("expected a JSON object"));
}

void TestThresholds::oversized_file_refused() {
  QTemporaryDir dir;
  json j = thresholds_to_json(sample());
  j["padding"] = std::string(Thresholds::kMaxFileBytes, 'x');  // otherwise valid
  const std::string path = write_json(dir, j.dump());
  const QString message = error_reading(path);
  QVERIFY2(message.startsWith(QString::fromStdString(path)) && message.contains("too large"), qPrintable(message));
  // An unknown key alone is fine: newer writers may add fields.
  json small = thresholds_to_json(sample());
  small["note"] = "hand-edited";
  QCOMPARE(read_thresholds(write_json(dir, small.dump())).lambda, 0.35);
}

void TestThresholds::missing_file_named() {
  QVERIFY(error_reading("/nonexistent/t.json").contains("/nonexistent/t.json"));
  QTemporaryDir dir;
  QVERIFY_THROWS_EXCEPTION(Error, write_thresholds(sample(), dir.filePath("no/such/dir/t.json").toStdString()));
}

void TestThresholds::decode_options_follow_the_file() {
  const DecodeOptions o = sample().decode_options();
  QVERIFY(o.policy == ExitPolicy::Calm);
  QVERIFY(o.measure == Measure::State);
  QCOMPARE(o.lambda, 0.35);
  QCOMPARE(o.tau, 2.5f);
  QCOMPARE(o.max_new_tokens, 48);
  QCOMPARE(o.first_exit_layer, 2);
  QCOMPARE(o.check_interval, 3);
  QVERIFY(o.kv_mode == KvMode::Exact);
  Thresholds never = sample();
  never.lambda = 1.0;
  QVERIFY(never.decode_options().policy == ExitPolicy::Full);
}

QTEST_APPLESS_MAIN(TestThresholds)
#include "test_thresholds.moc"
