#include "calibrate/losses_file.h"

#include <cmath>
#include <fstream>
#include <limits>

#include "io/utf8.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/json_file.h"
#include "util/json_limits.h"

namespace calm {

namespace {

using json = nlohmann::json;

constexpr int kFormatVersion = 1;

const char* kind_name(ImportedLosses::Kind kind) {
  return kind == ImportedLosses::Kind::Losses ? "losses" : "outputs";
}

// Reads one line into `out` without its newline (or a trailing '\r'); false
// at the end. A line over `limit` bytes is consumed but not kept: `too_long`.
bool next_line(std::streambuf& in, std::string& out, std::size_t limit, bool& too_long) {
  out.clear();
  too_long = false;
  bool any = false;
  for (;;) {
    const auto c = in.sbumpc();
    if (c == std::char_traits<char>::eof()) break;
    any = true;
    if (c == '\n') break;
    if (out.size() <= limit) out.push_back(static_cast<char>(c));
    else too_long = true;
  }
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (out.size() > limit) too_long = true;
  return any;
}

json parse_object(const std::string& line, const std::string& where) {
  if (json_nesting_depth(line) > kMaxJsonDepth)
    throw Error(where + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json value;
  try {
    value = json::parse(line);
  } catch (const json::exception& e) {
    throw Error(where + ": not valid JSON: " + excerpt(e.what(), 200));
  }
  if (!value.is_object()) throw Error(where + ": expected a JSON object, found " + value.type_name());
  return value;
}

std::string lambda_text(double lambda) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", lambda);
  return text;
}

// A list of one number per lambda, each in [low, high] (high may be infinite).
std::vector<double> per_lambda_numbers(const json& line, const char* key, const std::vector<double>& lambdas,
                                       double low, double high, const std::string& where) {
  const json& v = line.at(key);
  if (!v.is_array())
    throw Error(where + ": key \"" + key + "\" must be a list of one number per lambda, found " + v.type_name());
  if (v.size() != lambdas.size())
    throw Error(where + ": key \"" + key + "\" has " + std::to_string(v.size()) + " values for " +
                std::to_string(lambdas.size()) + " lambdas (a lambda column " +
                (v.size() < lambdas.size() ? "missing" : "too many") + ")");
  std::vector<double> out;
  for (std::size_t p = 0; p < v.size(); ++p) {
    if (!v[p].is_number())
      throw Error(where + ": key \"" + key + "\" at lambda " + lambda_text(lambdas[p]) + ": " + json_excerpt(v[p], 40) +
                  " is not a number");
    const double x = v[p].get<double>();
    if (!std::isfinite(x) || x < low || x > high)
      throw Error(where + ": key \"" + key + "\" at lambda " + lambda_text(lambdas[p]) + ": " + json_excerpt(v[p], 40) +
                  " is outside [" + lambda_text(low) + ", " + (std::isinf(high) ? "inf" : lambda_text(high)) + "]");
    out.push_back(x);
  }
  return out;
}

std::string text_of(const json& v, const std::string& key, const std::string& where) {
  if (!v.is_string()) throw Error(where + ": key \"" + key + "\" must be a string, found " + v.type_name());
  std::string s = v.get<std::string>();
  require_utf8(s, where + ": key \"" + key + "\"");
  return s;
}

void read_header(const json& h, const std::string& where, ImportedLosses& out) {
  const JsonReader r(h, where);
  const long long version = r.integer("calm_losses", 1, 1000);
  if (version != kFormatVersion)
    r.fail("calm_losses", "version " + std::to_string(version) + " is not known (this calm reads version " +
                              std::to_string(kFormatVersion) + ")");
  const std::string kind = r.string("kind");
  if (kind == "losses") out.kind = ImportedLosses::Kind::Losses;
  else if (kind == "outputs") out.kind = ImportedLosses::Kind::Outputs;
  else r.fail("kind", JsonReader::quoted(kind) + " is neither \"losses\" nor \"outputs\"");

  const json& lambdas = r.get("lambdas");
  if (!lambdas.is_array() || lambdas.size() < 2 || lambdas.size() > 1001)
    r.fail("lambdas", "must be a list of 2 to 1001 lambdas, from 1 (the full model) downward");
  std::vector<double> grid;
  for (const json& v : lambdas) {
    if (!v.is_number()) r.fail("lambdas", json_excerpt(v, 40) + " is not a number");
    const double x = v.get<double>();
    if (!(x >= 0.0 && x <= 1.0)) r.fail("lambdas", json_excerpt(v, 40) + " is outside [0, 1]");
    if (!grid.empty() && !(x < grid.back()))
      r.fail("lambdas", "must descend strictly: " + lambda_text(x) + " after " + lambda_text(grid.back()));
    grid.push_back(x);
  }
  if (grid.front() != 1.0) r.fail("lambdas", "must start at 1 (the full model, the safest point)");

  if (out.kind == ImportedLosses::Kind::Losses) {
    const JsonReader loss = r.object("loss");
    out.consistency = loss.name("consistency", [](const std::string& s) { return parse_consistency(s); });
    out.metric = loss.name("metric", [](const std::string& s) { return parse_metric(s); });
    out.unit = loss.name("metric_unit", [](const std::string& s) { return parse_text_unit(s); });
  } else if (r.has("loss")) {
    r.fail("loss", "belongs to kind \"losses\": with \"outputs\" the losses are computed here");
  }

  CalibrationReport& a = out.about;
  a.model_name = "imported";
  if (r.has("model")) {
    const JsonReader m = r.object("model");
    if (m.has("name")) a.model_name = m.string("name");
    if (m.has("hash")) a.model_hash = m.string("hash");
    if (m.has("dir")) out.model_dir = m.string("dir");
    if (m.has("num_layers")) a.num_layers = static_cast<int>(m.integer("num_layers", 1, 100000));
  }
  if (r.has("data")) {
    const JsonReader d = r.object("data");
    if (d.has("path")) a.data_path = d.string("path");
    if (d.has("hash")) a.data_hash = d.string("hash");
  }
  // Required: the thresholds file states the exit rule the guarantee is for.
  json settings = r.get("settings");
  if (!settings.is_object()) r.fail("settings", "must be an object (measure, tau, max_new_tokens, ...)");
  if (!settings.contains("lambda")) settings["lambda"] = 1.0;  // each grid point sets its own
  const JsonReader s(settings, where, "settings");
  a.settings = RunSettings::from(ExitRule::from_json(s));
  if (s.has("random_subset")) {
    const JsonReader subset = s.object("random_subset");
    a.settings.limit = static_cast<std::size_t>(subset.integer("limit", 1, std::numeric_limits<int>::max()));
    a.settings.limit_seed = static_cast<std::uint64_t>(subset.integer("seed", 0, std::numeric_limits<int>::max()));
  }
  a.settings.grid = grid;
}

}  // namespace

ImportedLosses read_losses_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open the losses file");
  ImportedLosses out;
  out.path = path;
  std::string line;
  bool too_long = false, header = false;
  std::size_t number = 0;
  uint64_t hash = fnv1a64("");
  bool has_optional[3] = {false, false, false};
  const char* optional_keys[3] = {"layers", "seconds", "flops"};
  std::vector<std::vector<double>>* optional_columns[3] = {&out.layers, &out.seconds, &out.flops};
  while (next_line(*file.rdbuf(), line, ImportedLosses::kMaxLineBytes, too_long)) {
    ++number;
    const std::string where = path + ":" + std::to_string(number);
    if (too_long)
      throw Error(where + ": a line over " + std::to_string(ImportedLosses::kMaxLineBytes >> 20) + " MiB");
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;
    const json value = parse_object(line, where);
    hash = fnv1a64(line + "\n", hash);
    if (!header) {
      if (!value.contains("calm_losses"))
        throw Error(where + ": the first line must be the header, {\"calm_losses\": 1, \"kind\", \"lambdas\", ...}");
      read_header(value, where, out);
      header = true;
      continue;
    }
    if (out.examples() >= ImportedLosses::kMaxExamples)
      throw Error(where + ": more than " + std::to_string(ImportedLosses::kMaxExamples) + " examples");
    if (value.contains("calm_losses")) throw Error(where + ": a second header");
    const std::vector<double>& lambdas = out.about.settings.grid;
    const auto require = [&](const char* key) {
      if (!value.contains(key))
        throw Error(where + ": key \"" + key + "\" missing (kind \"" + kind_name(out.kind) + "\")");
    };
    if (out.kind == ImportedLosses::Kind::Losses) {
      require("losses");
      out.losses.push_back(per_lambda_numbers(value, "losses", lambdas, 0.0, 1.0, where));
    } else {
      require("full");
      require("early");
      out.full.push_back(text_of(value.at("full"), "full", where));
      const json& early = value.at("early");
      if (!early.is_array() || early.size() != lambdas.size())
        throw Error(where + ": key \"early\" must be a list of one text per lambda (" +
                    std::to_string(lambdas.size()) + "), found " +
                    (early.is_array() ? std::to_string(early.size()) + " (a lambda column missing)"
                                      : std::string(early.type_name())));
      std::vector<std::string> texts;
      for (std::size_t p = 0; p < early.size(); ++p)
        texts.push_back(text_of(early[p], "early\" at lambda \"" + lambda_text(lambdas[p]), where));
      out.early.push_back(std::move(texts));
      out.references.push_back(value.contains("reference")
                                   ? std::optional<std::string>(text_of(value.at("reference"), "reference", where))
                                   : std::nullopt);
    }
    for (int k = 0; k < 3; ++k) {
      const bool has = value.contains(optional_keys[k]);
      if (out.examples() > 0 && has != has_optional[k])
        throw Error(where + ": key \"" + optional_keys[k] + "\" is " + (has ? "here but not on line " : "missing but on line ") +
                    std::to_string(out.lines.front()) + ": give it on every line or on none");
      has_optional[k] = has;
      if (has)
        optional_columns[k]->push_back(
            per_lambda_numbers(value, optional_keys[k], lambdas, 0.0, std::numeric_limits<double>::infinity(), where));
    }
    out.lines.push_back(number);
  }
  if (file.bad()) throw Error(path + ": cannot read the losses file");
  if (!header) throw Error(path + ": an empty losses file (no header)");
  if (out.examples() == 0) throw Error(path + ": the losses file has a header but no examples");
  CalibrationReport& a = out.about;
  a.examples = out.examples();
  if (a.data_path.empty()) a.data_path = path;
  if (a.data_hash.empty()) a.data_hash = hash_hex(hash);  // the losses themselves are the data
  return out;
}

LossTable ImportedLosses::loss_table(const Guarantee& g) const {
  const std::vector<double>& lambdas = about.settings.grid;
  LossTable table;
  table.lambdas = lambdas;
  table.losses.assign(lambdas.size(), std::vector<double>(examples()));
  if (!layers.empty()) table.layers.assign(lambdas.size(), std::vector<double>(examples()));
  for (std::size_t i = 0; i < examples(); ++i)
    for (std::size_t p = 0; p < lambdas.size() && !layers.empty(); ++p) table.layers[p][i] = layers[i][p];
  if (kind == Kind::Losses) {
    if (g.consistency != consistency || g.metric != metric || g.unit != unit)
      throw Error(path + ": the file holds " + consistency_name(consistency) + " " + metric_name(metric) + " losses on " +
                  text_unit_name(unit) + ", not the " + consistency_name(g.consistency) + " " + metric_name(g.metric) +
                  " on " + text_unit_name(g.unit) + " asked for (give --consistency, --metric and --metric-unit "
                  "as the file's header says, or import outputs, from which any loss can be computed)");
    for (std::size_t i = 0; i < examples(); ++i)
      for (std::size_t p = 0; p < lambdas.size(); ++p) table.losses[p][i] = losses[i][p];
    return table;
  }
  if (g.unit != TextUnit::Words)
    throw Error(path + ": outputs are texts, scored on words; --metric-unit pieces needs the model's tokenizer");
  WordIds words;  // one word vocabulary for every output and reference, as in CalibrationRun::loss_table
  for (std::size_t i = 0; i < examples(); ++i) {
    if (g.consistency == Consistency::Risk && !references[i])
      throw Error(path + ":" + std::to_string(lines[i]) +
                  ": risk consistency needs a \"reference\" on every line; this one has none");
    const TokenIds full_words = words(full[i]);
    const TokenIds reference = g.consistency == Consistency::Risk ? words(*references[i]) : TokenIds();
    for (std::size_t p = 0; p < lambdas.size(); ++p) {
      const TokenIds early_words = words(early[i][p]);
      table.losses[p][i] = g.consistency == Consistency::Textual
                               ? textual_loss(g.metric, early_words, full_words)
                               : risk_loss(g.metric, early_words, full_words, reference);
    }
  }
  return table;
}

std::vector<GridPointStats> ImportedLosses::grid_stats() const {
  std::vector<GridPointStats> grid;
  for (std::size_t p = 0; p < about.settings.grid.size(); ++p) {
    GridPointStats s;
    s.lambda = about.settings.grid[p];
    double total_layers = 0.0, full_seconds = 0.0, point_seconds = 0.0, full_flops = 0.0, point_flops = 0.0;
    for (std::size_t i = 0; i < examples(); ++i) {
      if (!layers.empty()) total_layers += layers[i][p];
      if (!seconds.empty()) full_seconds += seconds[i][0], point_seconds += seconds[i][p];
      if (!flops.empty()) full_flops += flops[i][0], point_flops += flops[i][p];
    }
    // As CalibrationRun: summed full-model cost over summed cost at the point.
    s.average_layers = total_layers / static_cast<double>(examples());
    s.measured_speedup = point_seconds > 0.0 ? full_seconds / point_seconds : 1.0;
    s.flops_speedup = point_flops > 0.0 ? full_flops / point_flops : 1.0;
    grid.push_back(s);
  }
  return grid;
}

CalibrationReport build_report(const ImportedLosses& imported, const std::vector<Guarantee>& guarantees) {
  return build_report(imported.about, imported.grid_stats(), guarantees,
                      [&](const Guarantee& g) { return imported.loss_table(g); });
}

std::string losses_file_text(const CalibrationRun& run, const LossTable& table, const Guarantee& g,
                             const std::string& model_dir, int num_layers) {
  nlohmann::ordered_json header = {
      {"calm_losses", kFormatVersion},
      {"kind", "losses"},
      {"lambdas", run.settings.grid},
      {"loss",
       {{"consistency", consistency_name(g.consistency)},
        {"metric", metric_name(g.metric)},
        {"metric_unit", text_unit_name(g.unit)}}},
      {"model", {{"name", run.model_name}, {"hash", run.model_hash}, {"dir", model_dir}, {"num_layers", num_layers}}},
      {"data", {{"path", run.data_path}, {"hash", run.data_hash}}},
      {"settings", run.settings.to_json()}};
  std::string text = dump_json(header) + "\n";
  for (std::size_t i = 0; i < run.outputs.size(); ++i) {
    const ExampleOutputs& o = *run.outputs[i];
    std::vector<double> losses;
    for (std::size_t p = 0; p < table.grid_size(); ++p) losses.push_back(table.losses[p][i]);
    // The lambda-1 column is the full model's run (Calibrator::run).
    nlohmann::ordered_json line = {{"id", i},
                                   {"losses", losses},
                                   {"layers", o.layers},
                                   {"seconds", o.seconds},
                                   {"flops", o.flops}};
    text += dump_json(line) + "\n";
  }
  return text;
}

}  // namespace calm
