// The calibration report for a hand-built run whose every number is known:
// 4 examples, grid {1, 0.5, 0}. The early outputs at lambda 1 and 0.5 equal
// the full model's; at lambda 0 two of the four share no token with it, so the
// token-agreement loss is 0, 0, 1, 1 (mean 0.5). Every example takes 3, 2, 1
// layers, 2, 1, 0.5 s and 300, 200, 100 FLOPs at the three points.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <fstream>
#include <sstream>

#include "calibrate/report.h"
#include "calibrate/thresholds.h"
#include "error_assertions.h"
#include "util/error.h"

using namespace calm;

namespace {

CalibrationRun hand_built_run() {
  CalibrationRun run;
  run.model_name = "tiny";
  run.model_hash = "00000000000000aa";
  run.data_path = "/data/cal.jsonl";
  run.data_hash = "00000000000000bb";
  run.settings.grid = {1.0, 0.5, 0.0};
  const std::vector<int> full{5, 6, 7, 8}, other{9, 9, 9, 9};
  for (size_t i = 0; i < 4; ++i) {
    Example e;
    e.input = "input " + std::to_string(i);
    e.reference = "reference";
    e.line = 7 + i;
    run.examples.push_back(e);
    ExampleOutputs o;
    o.full = full;
    o.full_seconds = 2.0;
    o.full_flops = 300.0;
    o.early = {full, full, i < 2 ? full : other};
    o.layers = {3.0, 2.0, 1.0};
    o.seconds = {2.0, 1.0, 0.5};
    o.flops = {300.0, 200.0, 100.0};
    run.outputs.push_back(o);
  }
  return run;
}

// A: delta 0.1, epsilon 0.05: even lambda 1 (mean 0) fails, its HB p-value
//    being (1 - 0.1)^4 = 0.6561 (h(0, d) = -ln(1 - d); Bentkus is e times that).
// B: delta 0.6, epsilon 0.5: lambda 1 and 0.5 (mean 0) pass with p = 0.4^4 =
//    0.0256; lambda 0 (mean 0.5) fails with p = exp(-4 h(0.5, 0.6)) =
//    (0.6/0.5)^2 (0.4/0.5)^2 = 0.9216 (Bentkus: e P[Bin(4, 0.6) <= 2] = 1.43).
std::vector<Guarantee> guarantees() {
  // Scored on the piece ids as built (the run has no tokenizer to detokenize with).
  Guarantee a{Consistency::Textual, Metric::Token, 0.1, 0.05, CalibrationMethod::HoeffdingBentkus, TextUnit::Pieces};
  Guarantee b{Consistency::Textual, Metric::Token, 0.6, 0.5, CalibrationMethod::HoeffdingBentkus, TextUnit::Pieces};
  return {a, b};
}

// Conformal risk control on the same run, pieces as above.
Guarantee crc_guarantee(double delta) {
  return {Consistency::Textual, Metric::Token, delta, 0.05, CalibrationMethod::Crc, TextUnit::Pieces};
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

class TestReport : public QObject {
  Q_OBJECT

 private slots:
  void choices_are_right();
  void json_contents();
  void csv_contents();
  void crc_choice_exact();
  void crc_not_monotone_stated();
  void files_written_whole();
  void refusals();
  void standard_error_known();
};

void TestReport::choices_are_right() {
  const Tokenizer none;  // textual losses need no tokenizer
  const CalibrationReport r = build_report(hand_built_run(), none, 3, guarantees());
  QCOMPARE(r.grid.size(), size_t{3});
  QCOMPARE(r.grid[1].average_layers, 2.0);
  QCOMPARE(r.grid[2].measured_speedup, 4.0);  // 8 s / 2 s
  QCOMPARE(r.grid[2].flops_speedup, 3.0);     // 1200 / 400
  QCOMPARE(r.choices.size(), size_t{2});
  const ReportChoice& a = r.choices[0];
  QVERIFY(!a.result.chosen_index);
  QCOMPARE(a.result.lambda, 1.0);
  QCOMPARE(a.chosen_point, size_t{0});
  QVERIFY(std::fabs(a.result.points[0].p_value - 0.6561) < 1e-12);
  const ReportChoice& b = r.choices[1];
  QCOMPARE(*b.result.chosen_index, size_t{1});
  QCOMPARE(b.result.lambda, 0.5);
  QVERIFY(std::fabs(b.result.points[1].p_value - 0.0256) < 1e-12);
  QVERIFY(std::fabs(b.result.points[2].p_value - 0.9216) < 1e-12);
  QCOMPARE(b.result.points[2].mean_loss, 0.5);
}

void TestReport::json_contents() {
  const Tokenizer none;
  const CalibrationReport r = build_report(hand_built_run(), none, 3, guarantees());
  const auto j = report_json(r);
  QCOMPARE(j["format"].get<std::string>(), std::string("calm-calibration-report"));
  QCOMPARE(j["model"]["hash"].get<std::string>(), std::string("00000000000000aa"));
  QCOMPARE(j["model"]["num_layers"].get<int>(), 3);
  QCOMPARE(j["data"]["examples"].get<int>(), 4);
  QCOMPARE(j["data"]["path"].get<std::string>(), std::string("/data/cal.jsonl"));
  QCOMPARE(j["settings"]["measure"].get<std::string>(), std::string("softmax"));
  QCOMPARE(j["grid"].size(), size_t{3});
  QCOMPARE(j["grid"][1]["measured_speedup"].get<double>(), 2.0);
  QCOMPARE(j["grid"][1]["flops_speedup"].get<double>(), 1.5);
  const auto& a = j["choices"][0];
  QCOMPARE(a["any_passed"].get<bool>(), false);
  QCOMPARE(a["lambda"].get<double>(), 1.0);
  QCOMPARE(a["delta"].get<double>(), 0.1);
  QCOMPARE(a["pvalue_method"].get<std::string>(), std::string("hb"));
  QCOMPARE(a["points"][0]["tested"].get<bool>(), true);
  QCOMPARE(a["points"][0]["passed"].get<bool>(), false);
  QCOMPARE(a["points"][1]["tested"].get<bool>(), false);
  const auto& b = j["choices"][1];
  QCOMPARE(b["consistency"].get<std::string>(), std::string("textual"));
  QCOMPARE(b["metric"].get<std::string>(), std::string("token"));
  QCOMPARE(b["measure"].get<std::string>(), std::string("softmax"));
  QCOMPARE(b["tau"].get<double>(), 4.0);
  QCOMPARE(b["lambda"].get<double>(), 0.5);
  QCOMPARE(b["mean_loss"].get<double>(), 0.0);
  QCOMPARE(b["average_layers"].get<double>(), 2.0);
  QCOMPARE(b["measured_speedup"].get<double>(), 2.0);
  QCOMPARE(b["points"][2]["mean_loss"].get<double>(), 0.5);
  QVERIFY(std::fabs(b["points"][2]["mean_loss_se"].get<double>() - std::sqrt(1.0 / 12.0)) < 1e-15);
  QCOMPARE(b["points"][2]["tested"].get<bool>(), true);
  QCOMPARE(b["points"][2]["passed"].get<bool>(), false);
}

void TestReport::csv_contents() {
  const Tokenizer none;
  const std::string csv = report_csv(build_report(hand_built_run(), none, 3, guarantees()));
  std::vector<std::string> lines;
  std::stringstream in(csv);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  QCOMPARE(lines.size(), size_t{1 + 2 * 3});  // header, then 2 guarantees x 3 grid points
  QCOMPARE(lines[0], std::string("consistency,metric,metric_unit,delta,epsilon,method,measure,tau,lambda,mean_loss,"
                                 "mean_loss_se,p_value,crc_bound,passed,tested,chosen,average_layers,measured_speedup,"
                                 "flops_speedup"));
  QCOMPARE(lines[1], std::string("textual,token,pieces,0.1,0.05,hb,softmax,4,1,0,0,0.6561,,0,1,0,3,1,1"));
  QCOMPARE(lines[2], std::string("textual,token,pieces,0.1,0.05,hb,softmax,4,0.5,0,0,0.6561,,0,0,0,2,2,1.5"));
  QCOMPARE(lines[5], std::string("textual,token,pieces,0.6,0.5,hb,softmax,4,0.5,0,0,0.0256,,1,1,1,2,2,1.5"));
  // se of {0, 0, 1, 1}: sample variance 1/3, over n = 4: sqrt(1/12) = 0.2886751346.
  QCOMPARE(lines[6], std::string("textual,token,pieces,0.6,0.5,hb,softmax,4,0,0.5,0.2886751346,0.9216,,0,1,0,1,4,3"));
  // Conformal risk control: no epsilon and no p-value, its bound instead
  // (bounds 0.2, 0.2, 0.6 as in crc_choice_exact).
  const std::string crc_csv = report_csv(build_report(hand_built_run(), none, 3, {crc_guarantee(0.25)}));
  QVERIFY2(crc_csv.find("\ntextual,token,pieces,0.25,,crc,softmax,4,0.5,0,0,,0.2,1,1,1,2,2,1.5\n") != std::string::npos,
           crc_csv.c_str());
  QVERIFY2(crc_csv.find("\ntextual,token,pieces,0.25,,crc,softmax,4,0,0.5,0.2886751346,,0.6,0,1,0,1,4,3\n") !=
               std::string::npos,
           crc_csv.c_str());
}

void TestReport::crc_choice_exact() {
  // Losses 0 0 0 0 / 0 0 0 0 / 0 0 1 1 never fall as lambda falls, so the
  // envelope is the losses. Bounds (n mean + 1) / (n + 1) with n = 4: 1/5,
  // 1/5, (2 + 1)/5 = 0.6. delta 0.25: lambda 1 and 0.5 pass, 0 fails.
  // delta 0.1: even lambda 1 fails (1/(n + 1) = 0.2 > 0.1). delta 0.6 takes lambda 0.
  const Tokenizer none;
  const CalibrationReport r =
      build_report(hand_built_run(), none, 3, {crc_guarantee(0.25), crc_guarantee(0.1), crc_guarantee(0.6)});
  const ReportChoice& c = r.choices[0];
  QVERIFY(c.result.method == CalibrationMethod::Crc);
  QCOMPARE(c.result.points[0].crc_bound, 0.2);
  QCOMPARE(c.result.points[1].crc_bound, 0.2);
  QCOMPARE(c.result.points[2].crc_bound, 0.6);
  QCOMPARE(c.result.lambda, 0.5);
  QCOMPARE(*c.result.chosen_index, size_t{1});
  QVERIFY(c.result.points[2].tested && !c.result.points[2].passed);
  QVERIFY(c.result.monotonicity.holds());
  QVERIFY(!r.choices[1].result.chosen_index);
  QCOMPARE(r.choices[1].result.lambda, 1.0);
  QCOMPARE(r.choices[2].result.lambda, 0.0);
  const auto j = report_json(r)["choices"][0];
  QCOMPARE(j["method"].get<std::string>(), std::string("crc"));
  QVERIFY(!j.contains("epsilon"));
  QVERIFY(!j.contains("pvalue_method"));
  QVERIFY(!j["points"][0].contains("p_value"));
  QCOMPARE(j["points"][2]["crc_bound"].get<double>(), 0.6);
  QCOMPARE(j["monotonicity"]["holds"].get<bool>(), true);
  QCOMPARE(j["monotonicity"]["examples_broken"].get<int>(), 0);
  QVERIFY(j["guarantee"].get<std::string>().rfind("Conformal risk control:", 0) == 0);
  // The same losses through Learn then Test keep their p-values and epsilon.
  const auto hb = report_json(build_report(hand_built_run(), none, 3, guarantees()))["choices"][1];
  QCOMPARE(hb["method"].get<std::string>(), std::string("hb"));
  QCOMPARE(hb["epsilon"].get<double>(), 0.5);
  QVERIFY(hb["points"][0].contains("p_value") && !hb["points"][0].contains("crc_bound"));
  QVERIFY(hb["guarantee"].get<std::string>().find("with probability at least 1 - epsilon") != std::string::npos);
}

void TestReport::crc_not_monotone_stated() {
  // Example 0 differs at lambda 0.5 and agrees again at 0: its loss falls
  // from 1 to 0 as lambda falls. Real losses 0 0 0 0 / 1 0 0 0 / 0 0 1 1;
  // envelope 0 0 0 0 / 1 0 0 0 / 1 0 1 1 (mean 0.75): bounds 0.2, 0.4, 0.8.
  // One example of 4, one adjacent pair of 8, breaks monotonicity.
  CalibrationRun run = hand_built_run();
  run.outputs[0]->early[1] = {9, 9, 9, 9};
  run.outputs[0]->early[2] = run.outputs[0]->full;
  const Tokenizer none;
  const CalibrationReport r = build_report(run, none, 3, {crc_guarantee(0.5)});
  const CalibrationResult& c = r.choices[0].result;
  QCOMPARE(c.points[1].crc_bound, 0.4);
  QCOMPARE(c.points[2].crc_bound, 0.8);
  QCOMPARE(c.points[2].mean_loss, 0.5);  // the real mean
  QCOMPARE(c.lambda, 0.5);
  QCOMPARE(c.monotonicity.examples_broken, size_t{1});
  QCOMPARE(c.monotonicity.pairs_broken, 1.0 / 8.0);
  const Thresholds t = thresholds_from_report(run, r, "/models/tiny", "/data/cal.jsonl", 0.5);
  QVERIFY(t.method == CalibrationMethod::Crc);
  QCOMPARE(t.monotonicity.examples_broken, size_t{1});
  const std::string sentence = guarantee_sentence(t);
  QVERIFY2(sentence.find("did NOT on the calibration set: 1 of 4 examples") != std::string::npos, sentence.c_str());
  QCOMPARE(report_json(r)["choices"][0]["monotonicity"]["holds"].get<bool>(), false);
}

void TestReport::files_written_whole() {
  QTemporaryDir dir;
  const Tokenizer none;
  const CalibrationReport r = build_report(hand_built_run(), none, 3, guarantees());
  const std::string json_path = dir.filePath("report.json").toStdString();
  QCOMPARE(csv_path_for(json_path), dir.filePath("report.csv").toStdString());
  QCOMPARE(csv_path_for("out/report"), std::string("out/report.csv"));
  write_report(r, json_path, csv_path_for(json_path));
  QCOMPARE(nlohmann::ordered_json::parse(read_all(json_path)), report_json(r));
  QCOMPARE(read_all(csv_path_for(json_path)), report_csv(r));
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files), (QStringList{"report.csv", "report.json"}));

  // Replacing an existing file; a failed write leaves the old file as it was
  // (write_output_file has its own suite, test_output_file).
  write_report(r, json_path, csv_path_for(json_path));
  QCOMPARE(nlohmann::ordered_json::parse(read_all(json_path)), report_json(r));
  VERIFY_ERROR(write_report(r, dir.filePath("missing/x.json").toStdString(), dir.filePath("x.csv").toStdString()),
               "missing/x.json", "the report");
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files), (QStringList{"report.csv", "report.json"}));
}

void TestReport::refusals() {
  const Tokenizer none;
  // Risk consistency with an example lacking its reference names file:line.
  CalibrationRun run = hand_built_run();
  run.examples[0].reference.reset();
  Guarantee risk{Consistency::Risk, Metric::Token, 0.1, 0.05, CalibrationMethod::HoeffdingBentkus, TextUnit::Pieces};
  try {
    build_report(run, none, 3, {risk});
    QFAIL("no error");
  } catch (const Error& e) {
    QVERIFY2(QString(e.what()).contains("/data/cal.jsonl:7:"), e.what());
  }
  // An unfinished run is refused.
  CalibrationRun partial = hand_built_run();
  partial.outputs[2].reset();
  QVERIFY_THROWS_EXCEPTION(Error, build_report(partial, none, 3, guarantees()));
}

void TestReport::standard_error_known() {
  QCOMPARE(standard_error({}), 0.0);
  QCOMPARE(standard_error({0.7}), 0.0);
  // {1, 3}: mean 2, sample variance 2, se = sqrt(2 / 2) = 1.
  QCOMPARE(standard_error({1.0, 3.0}), 1.0);
}

QTEST_APPLESS_MAIN(TestReport)
#include "test_report.moc"
