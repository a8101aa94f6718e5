// The calibration report: for every grid point its mean loss, p-value, average
// layers and speedups, and which lambda each requested guarantee (consistency,
// metric, delta, epsilon, p-value method) chose. One model run serves every
// requested guarantee: the losses are recomputed from the stored outputs.
//
// JSON: {"format": "calm-calibration-report", "version": 1, "model", "data",
//        "settings", "grid": [per point, independent of the guarantee],
//        "choices": [per guarantee: the method, the chosen lambda and every
//                    point's mean loss, its standard error, p-value (Learn
//                    then Test) or bound (conformal risk control), passed,
//                    tested; for crc, the monotonicity check]}
// CSV: one row per (guarantee, grid point), with a header row; p_value is
// empty for crc rows and crc_bound for the others.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calibrate/calibrator.h"

namespace calm {

// One guarantee to calibrate for.
struct Guarantee {
  Consistency consistency = Consistency::Textual;
  Metric metric = Metric::RougeL;
  double delta = 0.1;
  double epsilon = 0.05;  // Learn then Test only
  CalibrationMethod method = CalibrationMethod::HoeffdingBentkus;
  TextUnit unit = TextUnit::Words;  // what the metric compares
};

// What a grid point costs, whatever the guarantee.
struct GridPointStats {
  double lambda = 1.0;
  double average_layers = 0.0;
  double measured_speedup = 1.0;
  double flops_speedup = 1.0;
};

struct ReportChoice {
  Guarantee guarantee;
  CalibrationResult result;            // points in grid order, chosen_index, lambda, monotonicity
  std::vector<double> mean_loss_se;    // (grid) standard error of each mean loss
  std::size_t chosen_point = 0;        // result.chosen_index, or 0 (lambda 1) when none passed
};

struct CalibrationReport {
  std::string model_name;
  std::string model_hash;
  int num_layers = 0;
  std::string data_path;
  std::string data_hash;
  std::size_t examples = 0;
  RunSettings settings;
  std::string created;                 // ISO 8601 UTC
  std::vector<GridPointStats> grid;    // (grid)
  std::vector<ReportChoice> choices;   // one per guarantee, in the order asked
};

// Losses are computed once per (consistency, metric) and shared by the
// guarantees that use them. Needs a complete run whose grid starts at 1;
// throws calm::Error otherwise (risk consistency without references names the
// example's file:line).
CalibrationReport build_report(const CalibrationRun& run, const Tokenizer& tokenizer, int num_layers,
                               const std::vector<Guarantee>& guarantees);

// The same from parts, for losses computed elsewhere (losses_file.h): `about`
// names the model, the data and the settings (its grid and choices are
// ignored), `grid` gives each point's cost, and `losses` the loss table a
// guarantee asks for, called once per (consistency, metric, unit).
using LossTableSource = std::function<LossTable(const Guarantee&)>;
CalibrationReport build_report(const CalibrationReport& about, std::vector<GridPointStats> grid,
                               const std::vector<Guarantee>& guarantees, const LossTableSource& losses);

// The choice for one guarantee over a finished table (what build_report does
// per guarantee), exposed for the validation splits and for tests.
ReportChoice choose(const LossTable& table, const Guarantee& guarantee);

// Standard error of the mean of `values`: sample standard deviation / sqrt(n); 0 for n < 2.
double standard_error(const std::vector<double>& values);

nlohmann::ordered_json report_json(const CalibrationReport& report);
std::string report_csv(const CalibrationReport& report);

// Writes both through write_output_file (io/output_file.h): regular files or
// new ones only, each to a temporary file fsynced and renamed into place.
void write_report(const CalibrationReport& report, const std::string& json_path, const std::string& csv_path);

// "report.json" -> "report.csv"; any other name gets ".csv" appended.
std::string csv_path_for(const std::string& json_path);

}  // namespace calm
