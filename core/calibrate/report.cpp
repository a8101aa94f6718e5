#include "calibrate/report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <tuple>
#include <random>
#include <sstream>

#include "calibrate/thresholds.h"
#include "io/output_file.h"
#include "io/utf8.h"
#include "util/error.h"

namespace calm {

using json = nlohmann::ordered_json;

namespace {

std::string number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", x);
  return text;
}

}  // namespace

double standard_error(const std::vector<double>& values) {
  const std::size_t n = values.size();
  if (n < 2) return 0.0;
  double mean = 0.0;
  for (double x : values) mean += x;
  mean /= static_cast<double>(n);
  double squares = 0.0;
  for (double x : values) squares += (x - mean) * (x - mean);
  return std::sqrt(squares / static_cast<double>(n - 1) / static_cast<double>(n));
}

ReportChoice choose(const LossTable& table, const Guarantee& g) {
  ReportChoice c;
  c.guarantee = g;
  c.result = choose_lambda(table, g.delta, g.epsilon, g.method);
  c.chosen_point = c.result.chosen_index.value_or(0);
  for (std::size_t p = 0; p < table.grid_size(); ++p)
    c.mean_loss_se.push_back(standard_error(table.losses[p]));
  return c;
}

CalibrationReport build_report(const CalibrationRun& run, const Tokenizer& tokenizer, int num_layers,
                               const std::vector<Guarantee>& guarantees) {
  if (!run.complete())
    throw Error(run.data_path + ": the calibration run is not complete (" + std::to_string(run.finished()) + " of " +
                std::to_string(run.examples.size()) + " examples)");
  if (run.settings.grid.empty() || run.settings.grid.front() != 1.0)
    throw Error("the lambda grid must start at 1 (the full model)");
  CalibrationReport about;
  about.model_name = run.model_name;
  about.model_hash = run.model_hash;
  about.num_layers = num_layers;
  about.data_path = run.data_path;
  about.data_hash = run.data_hash;
  about.examples = run.examples.size();
  about.settings = run.settings;
  std::vector<GridPointStats> grid;
  for (std::size_t p = 0; p < run.settings.grid.size(); ++p) {
    GridPointStats s;
    s.lambda = run.settings.grid[p];
    double layers = 0.0;
    for (const auto& o : run.outputs) layers += o->layers[p];
    s.average_layers = layers / static_cast<double>(run.outputs.size());
    s.measured_speedup = run.measured_speedup(p);
    s.flops_speedup = run.flops_speedup(p);
    grid.push_back(s);
  }
  return build_report(about, std::move(grid), guarantees, [&](const Guarantee& g) {
    return run.loss_table(tokenizer, g.consistency, g.metric, {}, g.unit);
  });
}

CalibrationReport build_report(const CalibrationReport& about, std::vector<GridPointStats> grid,
                               const std::vector<Guarantee>& guarantees, const LossTableSource& losses) {
  CalibrationReport report = about;
  report.created = iso8601_utc_now();
  report.grid = std::move(grid);
  report.choices.clear();
  std::map<std::tuple<Consistency, Metric, TextUnit>, LossTable> tables;
  for (const Guarantee& g : guarantees) {
    const auto key = std::make_tuple(g.consistency, g.metric, g.unit);
    if (!tables.count(key)) tables[key] = losses(g);
    report.choices.push_back(choose(tables[key], g));
  }
  return report;
}

json report_json(const CalibrationReport& r) {
  json grid = json::array();
  for (const auto& s : r.grid)
    grid.push_back({{"lambda", s.lambda},
                    {"average_layers", s.average_layers},
                    {"measured_speedup", s.measured_speedup},
                    {"flops_speedup", s.flops_speedup}});
  json choices = json::array();
  for (const auto& c : r.choices) {
    const bool ltt = is_learn_then_test(c.guarantee.method);
    json points = json::array();
    for (std::size_t p = 0; p < c.result.points.size(); ++p) {
      const GridPointResult& g = c.result.points[p];
      json point = {{"lambda", g.lambda}, {"mean_loss", g.mean_loss}, {"mean_loss_se", c.mean_loss_se[p]}};
      if (ltt)
        point["p_value"] = g.p_value;
      else
        point["crc_bound"] = g.crc_bound;
      point["passed"] = g.passed;
      point["tested"] = g.tested;
      points.push_back(point);
    }
    const std::size_t k = c.chosen_point;
    json choice = {{"consistency", consistency_name(c.guarantee.consistency)},
                   {"metric", metric_name(c.guarantee.metric)},
                   {"metric_unit", text_unit_name(c.guarantee.unit)},
                   {"delta", c.guarantee.delta},
                   {"method", calibration_method_name(c.guarantee.method)}};
    if (ltt) {
      choice["epsilon"] = c.guarantee.epsilon;
      choice["pvalue_method"] = calibration_method_name(c.guarantee.method);
    } else {
      const Monotonicity& m = c.result.monotonicity;
      choice["monotonicity"] = {{"holds", m.holds()},
                                {"examples_broken", m.examples_broken},
                                {"pairs_broken", m.pairs_broken}};
    }
    choice["guarantee"] = method_guarantee(c.guarantee.method);
    choice.update(json{{"measure", measure_name(r.settings.measure)},
                       {"tau", r.settings.tau},
                       {"lambda", c.result.lambda},
                       {"any_passed", c.result.chosen_index.has_value()},
                       {"mean_loss", c.result.points.at(k).mean_loss},
                       {"average_layers", r.grid.at(k).average_layers},
                       {"measured_speedup", r.grid.at(k).measured_speedup},
                       {"flops_speedup", r.grid.at(k).flops_speedup},
                       {"points", points}});
    choices.push_back(choice);
  }
  return {{"format", "calm-calibration-report"},
          {"version", 1},
          {"created", r.created},
          {"model", {{"name", r.model_name}, {"hash", r.model_hash}, {"num_layers", r.num_layers}}},
          {"data", {{"path", r.data_path}, {"hash", r.data_hash}, {"examples", r.examples}}},
          {"settings", r.settings.to_json()},
          {"grid", grid},
          {"choices", choices}};
}

std::string report_csv(const CalibrationReport& r) {
  std::ostringstream out;
  out << "consistency,metric,metric_unit,delta,epsilon,method,measure,tau,lambda,mean_loss,mean_loss_se,p_value,"
         "crc_bound,passed,tested,chosen,average_layers,measured_speedup,flops_speedup\n";
  for (const auto& c : r.choices)
    for (std::size_t p = 0; p < c.result.points.size(); ++p) {
      const GridPointResult& g = c.result.points[p];
      const bool chosen = c.result.chosen_index && *c.result.chosen_index == p;
      const bool ltt = is_learn_then_test(c.guarantee.method);
      out << consistency_name(c.guarantee.consistency) << ',' << metric_name(c.guarantee.metric) << ','
          << text_unit_name(c.guarantee.unit) << ',' << number(c.guarantee.delta) << ','
          << (ltt ? number(c.guarantee.epsilon) : "") << ',' << calibration_method_name(c.guarantee.method) << ','
          << measure_name(r.settings.measure) << ',' << number(r.settings.tau) << ',' << number(g.lambda) << ','
          << number(g.mean_loss) << ',' << number(c.mean_loss_se[p]) << ',' << (ltt ? number(g.p_value) : "") << ','
          << (ltt ? "" : number(g.crc_bound)) << ',' << g.passed << ',' << g.tested << ',' << chosen << ',' << number(r.grid.at(p).average_layers) << ',' << number(r.grid.at(p).measured_speedup)
          << ',' << number(r.grid.at(p).flops_speedup) << '\n';
    }
  return out.str();
}

void write_report(const CalibrationReport& report, const std::string& json_path, const std::string& csv_path) {
  write_output_file(json_path, dump_json(report_json(report), 2) + "\n", "the report");
  write_output_file(csv_path, report_csv(report), "the report's CSV");
}

std::string csv_path_for(const std::string& json_path) {
  const std::filesystem::path p(json_path);
  if (p.extension() == ".json") return std::filesystem::path(p).replace_extension(".csv").string();
  return json_path + ".csv";
}

}  // namespace calm
