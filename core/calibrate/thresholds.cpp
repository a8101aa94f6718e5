#include "calibrate/thresholds.h"

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>

#include "calibrate/report.h"
#include "decode/option_bounds.h"
#include "io/output_file.h"
#include "io/utf8.h"
#include "util/error.h"
#include "util/json_file.h"
#include "util/json_limits.h"

namespace calm {

using nlohmann::json;

RunSettings Thresholds::run_settings() const {
  RunSettings s = RunSettings::from(*this);
  s.grid = lambda >= 1.0 ? std::vector<double>{1.0} : std::vector<double>{1.0, lambda};
  return s;
}

DecodeOptions Thresholds::decode_options() const { return run_settings().decode_options(lambda); }

Thresholds thresholds_from_report(const CalibrationRun& run, const CalibrationReport& report,
                                  const std::string& model_dir, const std::string& data_path, double grid_step,
                                  size_t choice_index) {
  // The report was built from the run (build_report): it carries the run's
  // hashes, size and settings.
  (void)run;
  return thresholds_from_report(report, model_dir, data_path, grid_step, choice_index);
}

Thresholds thresholds_from_report(const CalibrationReport& report, const std::string& model_dir,
                                  const std::string& data_path, double grid_step, std::size_t choice_index) {
  const ReportChoice& choice = report.choices.at(choice_index);
  const RunSettings& s = report.settings;
  const size_t chosen = choice.chosen_point;
  Thresholds t;
  t.rule() = s;
  t.lambda = choice.result.lambda;
  t.model_name = report.model_name;
  t.model_dir = model_dir;
  t.model_hash = report.model_hash;
  t.delta = choice.guarantee.delta;
  t.epsilon = choice.guarantee.epsilon;
  t.consistency = choice.guarantee.consistency;
  t.metric = choice.guarantee.metric;
  t.metric_unit = choice.guarantee.unit;
  t.method = choice.guarantee.method;
  t.monotonicity = choice.result.monotonicity;
  t.grid_step = grid_step;
  t.data_path = data_path;
  t.data_hash = report.data_hash;
  t.examples = report.examples;
  t.limit = s.limit;
  t.limit_seed = s.limit_seed;
  t.created = report.created;
  t.calibration_mean_loss = choice.result.points[chosen].mean_loss;
  t.calibration_layers = report.grid[chosen].average_layers;
  t.calibration_speedup = report.grid[chosen].measured_speedup;
  t.calibration_flops_speedup = report.grid[chosen].flops_speedup;
  return t;
}

std::string guarantee_sentence(const Thresholds& t) {
  std::ostringstream s;
  if (t.exploratory)
    s << "None: " << (is_learn_then_test(t.method) ? "delta or epsilon" : "delta")
      << " was chosen after seeing the calibration losses (exploratory). Had "
      << (is_learn_then_test(t.method) ? "they" : "it") << " been fixed first, it would read: ";
  const std::string loss = std::string(consistency_name(t.consistency)) + " " + metric_name(t.metric) + " loss (on " +
                           text_unit_name(t.metric_unit) + ")";
  if (is_learn_then_test(t.method)) {
    s << "With probability at least " << 1.0 - t.epsilon << " over the draw of the calibration set, the expected "
      << loss << " at lambda " << t.lambda << " over new inputs from the same distribution is at most " << t.delta
      << " (Learn then Test, " << calibration_method_name(t.method) << ").";
    return s.str();
  }
  s << "Averaged over the draw of the calibration set and a new input from the same distribution, the expected "
    << loss << " at lambda " << t.lambda << " is at most " << t.delta
    << " (conformal risk control: in expectation, not with probability 1 - epsilon; it assumes losses that never "
       "fall as lambda falls";
  if (t.monotonicity.holds())
    s << ", as they did on every calibration example).";
  else
    s << ". They did NOT on the calibration set: " << t.monotonicity.examples_broken << " of " << t.examples
      << " examples had a loss that fell as lambda fell, so the bound was applied to their monotone envelope, the "
         "highest loss at this or any higher lambda, which is never below the loss).";
  return s.str();
}

std::string iso8601_utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::ordered_json thresholds_to_json(const Thresholds& t) {
  nlohmann::ordered_json j = {{"format", Thresholds::kFormat},
                              {"version", Thresholds::kVersion},
                              {"model", {{"name", t.model_name}, {"dir", t.model_dir}, {"hash", t.model_hash}}}};
  j.update(t.rule().to_json());
  const bool ltt = is_learn_then_test(t.method);
  j["delta"] = t.delta;
  if (ltt) j["epsilon"] = t.epsilon;
  j.update(nlohmann::ordered_json{{"consistency", consistency_name(t.consistency)},
                                  {"metric", metric_name(t.metric)},
                                  {"metric_unit", text_unit_name(t.metric_unit)},
                                  {"method", calibration_method_name(t.method)}});
  if (ltt)
    j["pvalue_method"] = calibration_method_name(t.method);
  else
    j["monotonicity"] = {{"holds", t.monotonicity.holds()},
                         {"examples_broken", t.monotonicity.examples_broken},
                         {"pairs_broken", t.monotonicity.pairs_broken}};
  j.update(nlohmann::ordered_json{
      {"grid_step", t.grid_step},
      {"calibration", {{"path", t.data_path}, {"hash", t.data_hash}, {"examples", t.examples}}},
      {"created", t.created},
      {"certification", t.exploratory ? "exploratory" : "certified"},
      {"guarantee", guarantee_sentence(t)},
      {"on_calibration_set",
       {{"mean_loss", t.calibration_mean_loss},
        {"average_layers", t.calibration_layers},
        {"measured_speedup", t.calibration_speedup},
        {"flops_speedup", t.calibration_flops_speedup}}}});
  if (t.limit > 0) j["calibration"]["random_subset"] = {{"limit", t.limit}, {"seed", t.limit_seed}};
  return j;
}

namespace {

// '"' + text + '"', built by appending (GCC 12 warns falsely about "\"" + text).
std::string in_quotes(const std::string& text) {
  std::string q(1, '"');
  q += excerpt(text);
  q += '"';
  return q;
}

// Exactly `n` characters of [0-9a-f].
bool is_lower_hex(const std::string& s, std::size_t n) {
  if (s.size() != n) return false;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// `s` has `pattern`'s length, a digit where it has 'd' and its character elsewhere.
bool matches_digits_pattern(const std::string& s, std::string_view pattern) {
  if (s.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (pattern[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pattern[i]) return false;
  return true;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr long long kIntMax = std::numeric_limits<int>::max();

}  // namespace

Thresholds thresholds_from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": expected a JSON object, found " + j.type_name());
  const JsonReader r(j, source);
  if (r.string("format") != Thresholds::kFormat)
    r.fail("format", in_quotes(r.string("format")) + " is not " + in_quotes(Thresholds::kFormat));
  if (r.integer("version", 1, kIntMax) != Thresholds::kVersion)
    r.fail("version", "version " + std::to_string(r.integer("version", 1, kIntMax)) +
                          " is not supported (this program reads version " + std::to_string(Thresholds::kVersion) +
                          ")");
  Thresholds t;
  t.rule() = ExitRule::from_json(r);
  const JsonReader model = r.object("model");
  t.model_name = model.string("name");
  t.model_dir = model.string("dir");
  t.model_hash = model.string("hash");
  if (!is_lower_hex(t.model_hash, 16))
    model.fail("hash", in_quotes(t.model_hash) + " is not 16 lowercase hex digits");
  t.delta = r.number("delta", 0.0, 1.0);
  // "method" since crc; before it, "pvalue_method" alone (always Learn then Test).
  const auto parse_method = [](const std::string& s) { return parse_calibration_method(s); };
  if (j.contains("method")) {
    t.method = r.name("method", parse_method);
    if (j.contains("pvalue_method") && r.name("pvalue_method", parse_method) != t.method)
      r.fail("pvalue_method", in_quotes(r.string("pvalue_method")) + " is not the method, " +
                                  in_quotes(calibration_method_name(t.method)));
  } else {
    t.method = calibration_method(r.name("pvalue_method", [](const std::string& s) { return parse_pvalue_method(s); }));
  }
  if (is_learn_then_test(t.method)) {
    t.epsilon = r.number("epsilon", 0.0, 1.0);
  } else {
    if (j.contains("epsilon"))
      r.fail("epsilon", "conformal risk control (method \"crc\") has no epsilon: its guarantee is in expectation");
    const JsonReader m = r.object("monotonicity");
    t.monotonicity.examples_broken =
        static_cast<std::size_t>(m.integer("examples_broken", 0, std::numeric_limits<long long>::max()));
    t.monotonicity.pairs_broken = m.number("pairs_broken", 0.0, 1.0);
    if (m.boolean("holds") != t.monotonicity.holds())
      m.fail("holds", std::string(m.boolean("holds") ? "true" : "false") + " disagrees with examples_broken " +
                          std::to_string(t.monotonicity.examples_broken));
    if ((t.monotonicity.examples_broken == 0) != (t.monotonicity.pairs_broken == 0.0))
      m.fail("pairs_broken", "must be 0 exactly when examples_broken is 0");
  }
  t.consistency = r.name("consistency", [](const std::string& s) { return parse_consistency(s); });
  t.metric = r.name("metric", [](const std::string& s) { return parse_metric(s); });
  t.metric_unit = j.contains("metric_unit")
                      ? r.name("metric_unit", [](const std::string& s) { return parse_text_unit(s); })
                      : TextUnit::Pieces;  // written before words were scored
  t.grid_step = r.number("grid_step", 0.0, 1.0);
  if (t.grid_step <= 0.0) r.fail("grid_step", "must be above 0");
  const JsonReader cal = r.object("calibration");
  t.data_path = cal.string("path");
  t.data_hash = cal.string("hash");
  t.examples = static_cast<std::size_t>(cal.integer("examples", 1, std::numeric_limits<long long>::max()));
  if (t.monotonicity.examples_broken > t.examples)
    r.object("monotonicity").fail("examples_broken", std::to_string(t.monotonicity.examples_broken) +
                                                         " is more than the " + std::to_string(t.examples) +
                                                         " calibration examples");
  if (j.at("calibration").contains("random_subset")) {
    const JsonReader subset = cal.object("random_subset");
    t.limit = static_cast<std::size_t>(subset.integer("limit", 1, std::numeric_limits<long long>::max()));
    t.limit_seed = static_cast<std::uint64_t>(subset.integer("seed", 0, std::numeric_limits<long long>::max()));
  }
  t.created = r.string("created");
  if (j.contains("certification")) {
    const std::string c = r.string("certification");
    if (c != "certified" && c != "exploratory")
      r.fail("certification", in_quotes(c) + " is neither \"certified\" nor \"exploratory\"");
    t.exploratory = c == "exploratory";
  }
  if (!matches_digits_pattern(t.created, "dddd-dd-ddTdd:dd:ddZ"))
    r.fail("created", in_quotes(t.created) + " is not an ISO 8601 UTC time like 2024-05-01T12:00:00Z");
  // "expected" is the key files written before "on_calibration_set" used.
  const JsonReader expected = r.object(j.contains("on_calibration_set") || !j.contains("expected") ? "on_calibration_set"
                                                                                                : "expected");
  t.calibration_mean_loss = expected.number("mean_loss", 0.0, 1.0);
  t.calibration_layers = expected.number("average_layers", 0.0, kInf);
  t.calibration_speedup = expected.number("measured_speedup", 0.0, kInf);
  t.calibration_flops_speedup = expected.number("flops_speedup", 0.0, kInf);
  return t;
}

void write_thresholds(const Thresholds& t, const std::string& path) {
  write_output_file(path, dump_json(thresholds_to_json(t), 2) + "\n", "the thresholds file");
}

Thresholds read_thresholds(const std::string& path) {
  return thresholds_from_json(read_json_file(path, {"a thresholds file", Thresholds::kMaxFileBytes}), path);
}

}  // namespace calm
