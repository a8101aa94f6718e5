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
  Guarantee a{Consistency::Textual, Metric::Token, 0.1, 0.05, PValueMethod::HoeffdingBentkus, TextUnit::Pieces};
  Guarantee b{Consistency::Textual, Metric::Token, 0.6, 0.5, PValueMethod::HoeffdingBentkus, TextUnit::Pieces};
  return {a, b};
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
  QCOMPARE(lines[0], std::string("consistency,metric,metric_unit,delta,epsilon,pvalue_method,measure,tau,lambda,mean_loss,"
                                 "mean_loss_se,p_value,passed,tested,chosen,average_layers,measured_speedup,"
                                 "flops_speedup"));
  QCOMPARE(lines[1], std::string("textual,token,pieces,0.1,0.05,hb,softmax,4,1,0,0,0.6561,0,1,0,3,1,1"));
  QCOMPARE(lines[2], std::string("textual,token,pieces,0.1,0.05,hb,softmax,4,0.5,0,0,0.6561,0,0,0,2,2,1.5"));
  QCOMPARE(lines[5], std::string("textual,token,pieces,0.6,0.5,hb,softmax,4,0.5,0,0,0.0256,1,1,1,2,2,1.5"));
  // se of {0, 0, 1, 1}: sample variance 1/3, over n = 4: sqrt(1/12) = 0.2886751346.
  QCOMPARE(lines[6], std::string("textual,token,pieces,0.6,0.5,hb,softmax,4,0,0.5,0.2886751346,0.9216,0,1,0,1,4,3"));
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
  Guarantee risk{Consistency::Risk, Metric::Token, 0.1, 0.05, PValueMethod::HoeffdingBentkus, TextUnit::Pieces};
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
