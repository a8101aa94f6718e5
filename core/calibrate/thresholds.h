// The thresholds file: what a calibration decided, to take into deployment.
// One JSON object naming the model (with the hash of its weights), the exit
// rule (measure, tau, lambda), the guarantee (delta, epsilon, consistency,
// metric, p-value method), the decoding settings the guarantee holds for, the
// calibration set, the date, and what the chosen lambda did on the calibration
// set (in-sample: the guarantee is about the expected loss over new inputs,
// which the calibration mean only estimates).
//
//   {"format": "calm-thresholds", "version": 1,
//    "model": {"name", "dir", "hash"},
//    "measure", "tau", "lambda", "max_new_tokens", "first_exit_layer",
//    "check_interval", "kv_mode", ("gate", "gate_threshold": only with a gate),
//    ("repetition_penalty", "no_repeat_ngram_size": only when on; absent, they were off),
//    "delta", ["epsilon"], "consistency", "metric", "metric_unit", "method",
//    ["pvalue_method"], ["monotonicity": {"holds", "examples_broken", "pairs_broken"}],
//    "grid_step",
//    "calibration": {"path", "hash", "examples", ["random_subset": {"limit", "seed"}]},
//    "created": "2024-05-01T12:00:00Z", "certification": "certified" | "exploratory",
//    "guarantee": one sentence stating what holds (informational; not read back),
//    "on_calibration_set": {"mean_loss", "average_layers", "measured_speedup", "flops_speedup"}}
//
// "method" is hb, hoeffding, bentkus or wsr (Learn then Test: then "epsilon"
// and, for readers that predate "method", the same name as "pvalue_method")
// or crc (conformal risk control: no epsilon; "monotonicity" says whether the
// calibration losses were monotone in lambda, as CRC assumes).
// Files written before "on_calibration_set" had the same object under the key
// "expected", and files written before "method" name only "pvalue_method";
// they are still read.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "calibrate/calibrator.h"

namespace calm {

// The exit rule (ExitRule's fields, written in its JSON form; gate and
// gate_threshold only when a gate is set, the repetition remedies only when
// on) and what stands behind it.
struct Thresholds : ExitRule {
  static constexpr const char* kFormat = "calm-thresholds";
  static constexpr int kVersion = 1;
  static constexpr std::size_t kMaxFileBytes = 1 << 20;  // a real file is under 2 KB

  std::string model_name;
  std::string model_dir;
  std::string model_hash;  // file_hash of model.safetensors
  double delta = 0.1;
  double epsilon = 0.05;  // Learn then Test only (not written for crc)
  Consistency consistency = Consistency::Textual;
  Metric metric = Metric::RougeL;
  // Key "metric_unit". A file without it was calibrated on pieces (written
  // before words were scored), and is read as such.
  TextUnit metric_unit = TextUnit::Words;
  CalibrationMethod method = CalibrationMethod::HoeffdingBentkus;
  Monotonicity monotonicity;  // crc only: checked on the calibration losses
  double grid_step = 0.05;
  std::string data_path;
  std::string data_hash;    // CalibrationRun::data_hash: the examples as used
  std::size_t examples = 0;
  std::size_t limit = 0;        // RunSettings::limit and limit_seed: optional key
  std::uint64_t limit_seed = 0; //   "calibration.random_subset": {"limit", "seed"}
  std::string created;      // ISO 8601 UTC, "YYYY-MM-DDTHH:MM:SSZ"
  // Key "certification": "certified" when delta and epsilon were fixed before
  // the calibration losses were seen, "exploratory" when they were chosen
  // after (moved in the app once results were shown, or re-asked of a cache
  // that already held every loss): then the guarantee does not hold. Files
  // without the key were written by the CLI, which always fixed them first.
  bool exploratory = false;
  // Measured at lambda on the calibration set itself (in-sample).
  double calibration_mean_loss = 0.0;  // mean calibration loss, in [0, 1]
  double calibration_layers = 0.0;     // average decoder layers per token
  double calibration_speedup = 1.0;    // measured wall-clock speedup
  double calibration_flops_speedup = 1.0;

  // The decoding settings the guarantee was established for.
  DecodeOptions decode_options() const;
  RunSettings run_settings() const;  // the same, with the grid {1, lambda}
};

struct CalibrationReport;

// The thresholds file for choice `choice` of `report` (the first by default),
// made from `run`. `grid_step` is taken as the user set it (the grid's own
// differences are rounded sums); the paths are written as given.
Thresholds thresholds_from_report(const CalibrationRun& run, const CalibrationReport& report,
                                  const std::string& model_dir, const std::string& data_path, double grid_step,
                                  std::size_t choice = 0);
// The same from the report alone, which names the model, data and settings
// too (the form for losses imported from elsewhere, losses_file.h).
Thresholds thresholds_from_report(const CalibrationReport& report, const std::string& model_dir,
                                  const std::string& data_path, double grid_step, std::size_t choice = 0);

// The current time as "YYYY-MM-DDTHH:MM:SSZ".
std::string iso8601_utc_now();

// What the thresholds file guarantees, in one sentence, e.g. "With probability
// at least 0.95 over the draw of the calibration set, the expected textual
// rougeL loss at lambda 0.4 over new inputs from the same distribution is at
// most 0.1." For crc: the expectation over the calibration draw and a new
// input, and whether the calibration losses were monotone in lambda.
std::string guarantee_sentence(const Thresholds& t);

// Ordered as in the comment above, so the file reads top-down.
nlohmann::ordered_json thresholds_to_json(const Thresholds& t);
// Validates every field: its presence, type and range (lambda, delta, epsilon
// and the expected loss in [0, 1]; counts positive) and that names are known.
// Throws calm::Error "<source>: key \"<key>\": what is wrong".
Thresholds thresholds_from_json(const nlohmann::json& j, const std::string& source);

// Written to a temporary file and renamed over `path`, so a crash never leaves
// half a file. Throws calm::Error naming the file.
void write_thresholds(const Thresholds& t, const std::string& path);
// Refuses files over kMaxFileBytes and anything thresholds_from_json refuses;
// messages name the file and the key.
Thresholds read_thresholds(const std::string& path);

}  // namespace calm
