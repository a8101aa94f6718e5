#include "cli_calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "calibrate/calibrator.h"
#include "calibrate/jsonl.h"
#include "calibrate/losses_file.h"
#include "calibrate/merge.h"
#include "calibrate/report.h"
#include "calibrate/thresholds.h"
#include "calibrate/validate.h"
#include "decode/option_bounds.h"
#include "cli_args.h"
#include "cli_common.h"
#include "cli_progress.h"
#include "io/output_file.h"
#include "io/utf8.h"
#include "model/catalog.h"
#include "model/config.h"
#include "util/error.h"
#include "util/hash.h"
#include "model/model.h"

namespace calm::cli {

const char* const kCalibrateUsage = R"(
calibration:
  calm calibrate [--model DIR|NAME] [--data cal.jsonl] --delta D --out thresholds.json
                [--consistency textual|risk] [--metric rougeL|bleu|f1|token|exact]
                [--metric-unit words|pieces] [--epsilon E]
                [--measure softmax|softmax-max|state|classifier] [--tau T] [--max-new-tokens N]
                [--first-exit-layer K] [--check-interval K] [--grid-step S] [--method hb|hoeffding|bentkus|wsr|crc]
                [--kv propagate|exact|catch-up] [--gate none|state|classifier] [--gate-threshold G]
                [--repetition-penalty P] [--no-repeat-ngram N]
                [--threads N] [--cache FILE] [--report report.json] [--settings LIST]
                [--skip-bad-lines] [--limit N [--limit-seed S]]
  calm calibrate --shard I/N [--shard-seed S] --cache shard-I.jsonl [the run options above: --model,
                --data, --measure, --tau, --max-new-tokens, --grid-step, --limit, ...]
  calm calibrate --merge CACHE... --delta D --out thresholds.json [the same run options] [--report ...]
  calm calibrate --losses table.jsonl [--model DIR|NAME] --delta D --out thresholds.json [--report ...]
                [--consistency ...] [--metric ...] [--epsilon E] [--method ...] [--settings LIST]
  calm eval     [--model DIR|NAME] [--data test.jsonl] --thresholds thresholds.json
                [--repetition-penalty P] [--no-repeat-ngram N]
                [--threads N] [--limit N [--limit-seed S]] [--skip-bad-lines] [--force] [--json]
  calm validate [--model DIR|NAME] [--data cal.jsonl [--data2 test.jsonl]] --delta D[,D...] | --settings LIST
                [--consistency ...] [--metric ...] [--epsilon E] [--measure ...] [--tau T]
                [--max-new-tokens N] [--grid-step S] [--repetition-penalty P] [--no-repeat-ngram N]
                [--pvalue ...] [--splits 200] [--seed 0]
                [--methods hb,wsr,crc,empirical-mean,...] [--calibration-size N]
                [--cache FILE] [--threads N] [--limit N [--limit-seed S]] [--skip-bad-lines]

calibrate walks the lambda grid down from 1 and keeps the last lambda the fixed sequence of tests
passed. --method hb, hoeffding, bentkus or wsr (Learn then Test; --pvalue is the older name): with
probability at least 1 - epsilon over the draw of the calibration set, the expected loss at that
lambda over new inputs from the same distribution is at most delta (the average loss, not each
output's). --method crc (conformal risk control): the expected loss on a new input, averaged over the
calibration draw too, is at most delta; no epsilon; it assumes losses that never fall as lambda falls,
which calibrate checks and reports (if they do, it bounds their monotone envelope instead, never below
them). Defaults: textual, rougeL, epsilon 0.05, softmax, tau 4, hb, step 0.05, the
model's bundled calibration set unless --data is given. Finished examples go to a cache
(default: the --out path with .cache.jsonl for .json); Ctrl+C stops (exit code 3) and the same
command resumes. --report also writes a CSV next to the JSON. With --settings, "{delta}" in --out
(e.g. --out softmax-d{delta}.json) writes one thresholds file per guarantee, each certified: every
delta was fixed before the run (the others are only printed otherwise).
--shard I/N runs only shard I of N, a random split of the examples (seed --shard-seed, default 0),
into its --cache, and certifies nothing; --merge joins the shards' caches (refusing caches of other
settings, models or data, and missing or duplicated examples) and certifies exactly as one run on
the whole set would. Give every shard and the merge the same model, data and run options
(docs/scaling.md). --losses certifies per-example losses (or outputs) at every lambda computed by
any engine, from a JSONL file (docs/losses-format.md); --write-losses FILE writes a run's losses so.
eval runs the full model and CALM at the thresholds file's lambda on a test set (default: the
bundled test set) and compares quality, layers and speed, with the file's decoding settings;
--repetition-penalty or --no-repeat-ngram other than the file's are refused (its guarantee does not
cover them) unless --force.
--repetition-penalty and --no-repeat-ngram change what the model outputs, so a calibration holds
only for the values it ran with: they are recorded in the thresholds file, the cache and the report.
--limit N draws N examples of each data file at random (seed --limit-seed, default 0; recorded
in the report, the cache and the thresholds file), never the first N lines.
validate pools --data and --data2 (default: the bundled calibration and test sets), runs the model
once, and over --splits random splits (--calibration-size examples, default 80%, for calibration)
reports, per --methods (default: --pvalue's), how often the chosen lambda's true risk (its mean
loss over the whole pool) and its test-part loss exceeded delta, with Clopper-Pearson intervals.
--methods takes hb, hoeffding, bentkus, wsr (Learn then Test), crc (conformal risk control) and
empirical-mean (no guarantee: a control that should fail). --delta may be repeated or a comma list.
Metrics score words: the output is detokenized, lowercased and split on everything that is not a
letter or digit (Unicode-aware); --metric-unit pieces scores the tokenizer's pieces instead (how
results before words were scored were computed).
--settings is a comma list of consistency:delta[:epsilon[:metric]], or "paper" for textual 0.1,
textual 0.25, risk 0.02, risk 0.05.
)";

namespace {

using Clock = std::chrono::steady_clock;

// ---- Arguments -----------------------------------------------------------

// `--delta 0.1 --delta 0.25` becomes `--delta 0.1,0.25`, so list options may
// be repeated or comma-separated alike.
std::vector<std::string> merge_repeated(const std::vector<std::string>& argv, const std::set<std::string>& keys) {
  std::vector<std::string> out;
  std::map<std::string, size_t> value_at;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string key = argv[i].rfind("--", 0) == 0 ? argv[i].substr(2) : "", value;
    const auto eq = key.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    if (!keys.count(key) || (!inline_value && i + 1 >= argv.size())) {
      out.push_back(argv[i]);
      continue;
    }
    if (!inline_value) value = argv[++i];
    const auto it = value_at.find(key);
    if (it != value_at.end()) {
      out[it->second] += "," + value;
    } else {
      out.push_back("--" + key);
      out.push_back(value);
      value_at[key] = out.size() - 1;
    }
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

double parse_number(const std::string& option, const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("option --" + option + " needs a number, got '" + text + "'");
}

double open_unit(const std::string& option, double v) {
  if (!(v > 0.0 && v < 1.0)) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    throw UsageError("--" + option + " must be in (0, 1), got " + text);
  }
  return v;
}


Guarantee base_guarantee(const Args& args) {
  Guarantee g;
  g.consistency = parse_name(parse_consistency, args.get("consistency", "textual"));
  g.metric = parse_name([](const std::string& s) { return parse_metric(s); }, args.get("metric", "rougeL"));
  g.epsilon = open_unit("epsilon", args.get_double("epsilon", 0.05));
  g.method = calibration_method(
      parse_name([](const std::string& s) { return parse_pvalue_method(s); }, args.get("pvalue", "hb")));
  // calibrate's --method takes the four p-values and crc; --pvalue, the older
  // option, only the p-values.
  if (args.has("method")) {
    const CalibrationMethod m =
        parse_name([](const std::string& s) { return parse_calibration_method(s); }, args.get("method"));
    if (args.has("pvalue") && m != g.method)
      throw UsageError("--method " + args.get("method") + " and --pvalue " + args.get("pvalue") +
                       " disagree: give one of them");
    if (!is_learn_then_test(m) && args.has("epsilon"))
      throw UsageError("--epsilon has no part in --method crc: conformal risk control bounds the expected loss "
                       "(over the calibration draw and a new input) by delta, with no epsilon");
    g.method = m;
  }
  g.unit = parse_name([](const std::string& s) { return parse_text_unit(s); }, args.get("metric-unit", "words"));
  return g;
}

// --settings: "paper" or consistency:delta[:epsilon[:metric]],...
std::vector<Guarantee> settings_list(const std::string& text, const Guarantee& base) {
  std::vector<Guarantee> list;
  const std::string items = text == "paper" ? "textual:0.1,textual:0.25,risk:0.02,risk:0.05" : text;
  for (const std::string& item : split_commas(items)) {
    std::vector<std::string> f;
    std::stringstream in(item);
    for (std::string part; std::getline(in, part, ':');) f.push_back(part);
    if (f.size() < 2 || f.size() > 4)
      throw UsageError("--settings item '" + item + "' is not consistency:delta[:epsilon[:metric]]");
    Guarantee g = base;
    g.consistency = parse_name(parse_consistency, f[0]);
    g.delta = open_unit("settings delta", parse_number("settings", f[1]));
    if (f.size() > 2) g.epsilon = open_unit("settings epsilon", parse_number("settings", f[2]));
    if (f.size() > 3) g.metric = parse_name([](const std::string& s) { return parse_metric(s); }, f[3]);
    list.push_back(g);
  }
  if (list.empty()) throw UsageError("--settings lists no settings");
  return list;
}

bool same_guarantee(const Guarantee& a, const Guarantee& b) {
  return a.consistency == b.consistency && a.metric == b.metric && a.delta == b.delta && a.epsilon == b.epsilon &&
         a.method == b.method && a.unit == b.unit;
}

std::vector<Guarantee> delta_list(const Args& args, const Guarantee& base) {
  std::vector<Guarantee> list;
  for (const std::string& d : split_commas(args.get("delta"))) {
    Guarantee g = base;
    g.delta = open_unit("delta", parse_number("delta", d));
    list.push_back(g);
  }
  return list;
}

RunSettings run_settings(const Args& args) {
  // the options generate shares go through its parser
  // (decode_options bounds each option it reads: docs/hardening.md)
  RunSettings s = RunSettings::from(decode_options(args));
  s.grid = lambda_grid(args.get_double("grid-step", 0.05, OptionBounds::kMinGridStep, 1.0));
  s.limit = static_cast<size_t>(limit_of(args));
  s.limit_seed = limit_seed_of(args);
  return s;
}

// The thresholds file's settings; the repetition remedies the command line
// asks for must be the file's (a calibration holds only for its own), unless
// --force evaluates them anyway.
RunSettings eval_settings(const Args& args, const Thresholds& t) {
  RunSettings s = t.run_settings();
  if (!args.has("repetition-penalty") && !args.has("no-repeat-ngram")) return s;
  const DecodeOptions asked = decode_options(args);
  ExitRule wanted = s;
  if (args.has("repetition-penalty")) wanted.repetition_penalty = asked.repetition_penalty;
  if (args.has("no-repeat-ngram")) wanted.no_repeat_ngram = asked.no_repeat_ngram;
  const std::vector<std::string> why = settings_differences(s, wanted);
  if (!why.empty() && !args.flag("force")) {
    std::string list;
    for (const std::string& w : why) list += (list.empty() ? "" : ", ") + w;
    throw Error(args.get("thresholds") + " was calibrated with " + list +
                ": its guarantee does not cover these settings; calibrate with them, or pass --force to evaluate "
                "anyway");
  }
  s.repetition_penalty = wanted.repetition_penalty;
  s.no_repeat_ngram = wanted.no_repeat_ngram;
  return s;
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  const auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// ---- Running with progress and Ctrl+C --------------------------------------

// Runs (or resumes) `run`; false when Ctrl+C cancelled it. `resumed`, when
// given, receives how many examples came from the cache.
bool execute(const Model& model, CalibrationRun& run, const std::string& cache, int threads, const std::string& label,
             size_t* resumed = nullptr) {
  bool complete = false;
  {
    ProgressLine line(label);
    const CtrlC ctrl_c;
    complete = Calibrator::run(model, run, cache, threads,
                               [&](const CalibrationProgress& p) {
                                 line.update(p.done, p.total, p.resumed, p.cache_bad_lines);
                                 if (resumed) *resumed = p.resumed;
                               },
                               &CtrlC::flag());
  }
  if (!complete) {
    std::cerr << label << ": cancelled after " << run.finished() << " of " << run.examples.size() << " examples";
    if (!cache.empty())
      std::cerr << "; they are kept in " << cache << ": run the same command again to resume";
    std::cerr << "\n";
  }
  return complete;
}

// ---- Printing --------------------------------------------------------------

std::string general(double x) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3g", x);
  return text;
}

std::string guarantee_text(const Guarantee& g) {
  return std::string(consistency_name(g.consistency)) + " " + metric_name(g.metric) + " on " +
         text_unit_name(g.unit) + ", delta " + general(g.delta) +
         (is_learn_then_test(g.method) ? ", epsilon " + general(g.epsilon) : std::string()) + " (" +
         calibration_method_name(g.method) + ")";
}

std::string command_line(const std::string& command, const std::vector<std::string>& argv) {
  std::string line = "calm " + command;
  for (const auto& a : argv)
    line += " " + (a.find_first_of(" \t'\"$") == std::string::npos ? a : "'" + a + "'");
  return line;
}

// Learn then Test: each point's p-value against epsilon; crc: its bound
// (n * envelope mean + 1) / (n + 1) against delta.
void print_grid(const CalibrationReport& report, const ReportChoice& c) {
  const bool ltt = is_learn_then_test(c.guarantee.method);
  std::cout << (ltt ? "  lambda  mean loss +- se     p-value    LTT   layers  speedup  FLOPs\n"
                    : "  lambda  mean loss +- se   CRC bound    CRC   layers  speedup  FLOPs\n");
  for (size_t p = 0; p < report.grid.size(); ++p) {
    const GridPointResult& g = c.result.points[p];
    const bool chosen = c.result.chosen_index && *c.result.chosen_index == p;
    char line[200];
    std::snprintf(line, sizeof line, "%s %6.3f  %.4f +- %.4f  %9.3g  %-4s  %6.3f  %6.2fx  %5.2fx\n", chosen ? "*" : " ",
                  g.lambda, g.mean_loss, c.mean_loss_se[p], ltt ? g.p_value : g.crc_bound,
                  !g.tested ? "-" : (g.passed ? "pass" : "fail"), report.grid[p].average_layers,
                  report.grid[p].measured_speedup, report.grid[p].flops_speedup);
    std::cout << line;
  }
}

std::string choice_text(const CalibrationReport& report, const ReportChoice& c) {
  const GridPointStats& s = report.grid[c.chosen_point];
  return "lambda " + general(c.result.lambda) + (c.result.chosen_index ? "" : " (no lambda passed: never exit)") +
         " for " + guarantee_text(c.guarantee) + ": calibration mean loss " +
         fixed(c.result.points[c.chosen_point].mean_loss, 4) + ", " + fixed(s.average_layers, 2) + " of " +
         std::to_string(report.num_layers) + " layers, " + fixed(s.measured_speedup, 2) + "x measured, " +
         fixed(s.flops_speedup, 2) + "x FLOPs speedup";
}

// The grid, the choice of every guarantee and the guarantee's sentence.
void print_result(const CalibrationReport& report, const Thresholds& t) {
  const ReportChoice& c = report.choices.front();
  print_grid(report, c);
  std::cout << "chosen:  " << choice_text(report, c) << "\n";
  if (!is_learn_then_test(c.guarantee.method)) {
    const Monotonicity& m = c.result.monotonicity;
    if (m.holds())
      std::cout << "monotone: yes: no calibration example's loss fell as lambda fell, as conformal risk control "
                   "assumes\n";
    else
      std::cout << "monotone: NO: " << m.examples_broken << " of " << report.examples
                << " calibration examples have a loss that falls as lambda falls (" << fixed(100.0 * m.pairs_broken, 1)
                << "% of adjacent grid pairs); the bound is applied to their monotone envelope (the highest loss at "
                   "this or any higher lambda), which is never below the loss\n";
  }
  for (size_t k = 1; k < report.choices.size(); ++k)
    std::cout << "also:    " << choice_text(report, report.choices[k]) << "\n";
  std::cout << "guarantee: " << guarantee_sentence(t) << "\n";
}

// The thresholds files (already written) said, and --report written.
void write_outputs(const CalibrationReport& report, const std::vector<std::string>& outs, const Args& args) {
  for (const std::string& o : outs) std::cout << "wrote " << o << "\n";
  if (args.has("report")) {
    const std::string csv = csv_path_for(args.get("report"));
    write_report(report, args.get("report"), csv);
    std::cout << "wrote " << args.get("report") << " and " << csv << "\n";
  }
}

std::string default_cache(const std::string& out) {
  const std::filesystem::path p(out);
  if (p.extension() == ".json") return std::filesystem::path(p).replace_extension(".cache.jsonl").string();
  return out + ".cache.jsonl";
}

constexpr const char* kDeltaField = "{delta}";

// `pattern` with "{delta}" replaced by the delta as typed (0.1, 0.25), or by
// nothing when delta < 0 (the cache shared by all the files).
std::string with_delta(const std::string& pattern, double delta) {
  const size_t at = pattern.find(kDeltaField);
  if (at == std::string::npos) return pattern;
  return pattern.substr(0, at) + (delta < 0 ? std::string() : general(delta)) +
         pattern.substr(at + std::string(kDeltaField).size());
}

// `--merge A B C --delta ...` -> the paths A, B, C, and the arguments with
// `--merge` left as a flag: the caches are every argument after it up to the
// next option.
std::vector<std::string> take_merge_list(const std::vector<std::string>& argv, std::vector<std::string>& paths) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < argv.size(); ++i) {
    rest.push_back(argv[i]);
    if (argv[i] != "--merge") continue;
    while (i + 1 < argv.size() && argv[i + 1].rfind("--", 0) != 0) paths.push_back(argv[++i]);
    if (paths.empty()) throw UsageError("--merge needs the shards' caches: --merge CACHE...");
  }
  return rest;
}

// calm calibrate --losses FILE: certify losses computed elsewhere (another
// engine, or calm's --write-losses). Nothing is decoded; the exit rule and
// the grid are the file's.
int calibrate_from_losses(const Args& args) {
  for (const char* option : {"data", "cache", "shard", "shard-seed", "threads", "limit", "limit-seed", "measure",
                             "tau", "max-new-tokens", "first-exit-layer", "check-interval", "grid-step", "kv",
                             "gate", "gate-threshold", "weights", "write-losses", "repetition-penalty",
                             "no-repeat-ngram"})
    if (args.has(option))
      throw UsageError(std::string("--losses certifies the file's losses as they are (its header gives the exit rule "
                                   "and the lambdas): drop --") +
                       option);
  if (args.flag("merge")) throw UsageError("--losses and --merge are two sources of losses: give one of them");
  if (!args.has("out")) throw UsageError("calibrate needs --out thresholds.json");
  if (!args.has("delta")) throw UsageError("calibrate needs --delta (e.g. 0.1 for textual, 0.02 for risk)");
  const std::string path = args.get("losses"), out = args.get("out");
  std::vector<LabelledPath> outputs{{"--out", out}};
  if (args.has("report"))
    for (const std::string& r : {args.get("report"), csv_path_for(args.get("report"))})
      outputs.push_back({"--report", r});
  std::vector<LabelledPath> inputs{{"--losses", path}};
  std::string model_dir;
  if (args.has("model")) {
    model_dir = resolve_model_dir(args.get("model"));
    for (const LabelledPath& f : model_input_files(model_dir)) inputs.push_back(f);
  }
  check_distinct_files(outputs, inputs);
  ImportedLosses imported = read_losses_file(path);
  CalibrationReport& about = imported.about;
  if (!model_dir.empty()) {
    // The thresholds file binds the guarantee to these weights (calm eval checks the hash).
    const std::string hash = file_hash(model_dir + "/model.safetensors");
    if (!about.model_hash.empty() && about.model_hash != hash)
      throw Error(path + ": the losses were computed with model hash " + about.model_hash + ", but " + model_dir +
                  "/model.safetensors has hash " + hash + ": they certify nothing about this model");
    const ModelConfig config = load_config(model_dir + "/config.json");
    if (about.num_layers && about.num_layers != config.decoder_layers)
      throw Error(path + ": the losses were computed with " + std::to_string(about.num_layers) +
                  " decoder layers, but " + model_dir + " has " + std::to_string(config.decoder_layers));
    about.model_hash = hash;
    about.num_layers = config.decoder_layers;
    if (about.model_name == "imported") about.model_name = std::filesystem::path(model_dir).filename().string();
    imported.model_dir = model_dir;
  }
  if (about.model_hash.empty())
    throw UsageError(path + " names no model hash: give --model DIR, the model the losses were computed with "
                            "(the thresholds file binds the guarantee to its weights)");
  Guarantee main = base_guarantee(args);
  if (imported.kind == ImportedLosses::Kind::Losses) {  // the file's own losses, unless asked otherwise
    if (!args.has("consistency")) main.consistency = imported.consistency;
    if (!args.has("metric")) main.metric = imported.metric;
    if (!args.has("metric-unit")) main.unit = imported.unit;
  }
  main.delta = open_unit("delta", args.get_double("delta", 0.1));
  std::vector<Guarantee> guarantees{main};
  if (args.has("settings"))
    for (const Guarantee& g : settings_list(args.get("settings"), main))
      if (!same_guarantee(g, main)) guarantees.push_back(g);

  const CalibrationReport report = build_report(imported, guarantees);
  const std::vector<double>& grid = about.settings.grid;
  const double step = std::round((grid[0] - grid[1]) * 1e12) / 1e12;
  Thresholds t = thresholds_from_report(report, imported.model_dir, about.data_path, step);
  write_thresholds(t, out);

  std::cout << "model:   " << about.model_name << " (hash " << about.model_hash << ", "
            << (about.num_layers ? std::to_string(about.num_layers) : std::string("?")) << " decoder layers)\n"
            << "losses:  " << path << " (" << imported.examples() << " examples, "
            << (imported.kind == ImportedLosses::Kind::Losses ? "losses" : "outputs scored here") << ", "
            << grid.size() << " lambdas; data " << about.data_path << ", hash " << about.data_hash << ")\n"
            << "rule:    " << measure_name(about.settings.measure) << " measure, tau " << general(about.settings.tau)
            << ", " << about.settings.max_new_tokens << " new tokens at most (from the file's header"
            << ")\n"
            << "losses:  " << guarantee_text(main) << "\n";
  print_result(report, t);
  std::cout << "note:    the guarantee holds only if delta and epsilon were fixed before these losses were looked at, "
               "and the examples are a random sample of the inputs it is about\n";
  write_outputs(report, {out}, args);
  return 0;
}

// calm calibrate --shard I/N: one shard's outputs into its cache; nothing is
// certified (the losses are not even computed), so no delta is asked yet.
int calibrate_shard(const Args& args) {
  for (const char* option : {"out", "delta", "report", "settings", "method", "pvalue", "epsilon", "consistency",
                             "metric", "metric-unit", "write-losses"})
    if (args.has(option))
      throw UsageError(std::string("--shard computes one shard's outputs and certifies nothing: drop --") + option +
                       " here and give it to calm calibrate --merge");
  if (!args.has("cache")) throw UsageError("--shard needs --cache FILE: the shard's outputs go there");
  Shard shard;
  try {
    shard = Shard::parse(args.get("shard"), static_cast<uint64_t>(args.get_int("shard-seed", 0, 0, INT32_MAX)));
  } catch (const Error& e) {
    throw UsageError(std::string("--shard: ") + e.what());
  }
  const RunSettings settings = run_settings(args);
  const int threads = threads_of(args, 0, 0);
  limit_of(args);
  const Model model = load_model_arg(args);
  const std::string data = data_file(args, "data", model, "calibration");
  const std::string cache = args.get("cache");
  check_distinct_files({{"--cache", cache}}, with_model_files({{"--data", data}}, model));
  CalibrationRun run = Calibrator::prepare(model, data, read_examples(data, args), settings);
  run.shard = shard;
  const std::string label = "calibrate shard " + shard.name();
  if (!execute(model, run, cache, threads, label)) return 3;
  std::cout << "shard " << shard.name() << " (split seed " << shard.seed << "): " << run.assigned().size() << " of "
            << run.examples.size() << " examples of " << data << " (hash " << run.data_hash << ") in " << cache
            << "\ncertify once every shard is done: calm calibrate --merge CACHE... --delta D --out thresholds.json, "
               "with the same model, data and run options\n";
  return 0;
}

}  // namespace

// ---- calm calibrate --------------------------------------------------------

int cmd_calibrate(const std::vector<std::string>& argv) {
  std::vector<std::string> merge;
  const Args args(merge_repeated(take_merge_list(argv, merge), {"settings"}),
                  {"model", "weights", "data", "consistency", "metric", "delta", "epsilon", "measure", "tau", "max-new-tokens",
                   "first-exit-layer", "check-interval", "grid-step", "pvalue", "threads", "cache", "report",
                   "settings", "limit", "limit-seed", "metric-unit", "out", "kv", "gate", "gate-threshold", "method",
                   "shard", "shard-seed", "losses", "write-losses", "repetition-penalty", "no-repeat-ngram"},
                  {"skip-bad-lines", "merge"});
  if (args.has("shard-seed") && !args.has("shard"))
    throw UsageError("--shard-seed needs --shard I/N");
  if (args.has("losses")) return calibrate_from_losses(args);
  if (args.has("shard")) {
    if (args.flag("merge")) throw UsageError("--shard runs one shard and --merge joins them: give one of them");
    return calibrate_shard(args);
  }
  if (args.flag("merge") && args.has("cache"))
    throw UsageError("--merge reads the shards' caches and writes none: drop --cache");
  if (!args.has("out")) throw UsageError("calibrate needs --out thresholds.json");
  if (!args.has("delta")) throw UsageError("calibrate needs --delta (e.g. 0.1 for textual, 0.02 for risk)");
  Guarantee main = base_guarantee(args);
  main.delta = open_unit("delta", args.get_double("delta", 0.1));
  std::vector<Guarantee> guarantees{main};
  if (args.has("settings"))
    for (const Guarantee& g : settings_list(args.get("settings"), main))
      if (!same_guarantee(g, main)) guarantees.push_back(g);
  const RunSettings settings = run_settings(args);
  const int threads = threads_of(args, 0, 0);
  limit_of(args);

  const Model model = load_model_arg(args);
  const std::string data = data_file(args, "data", model, "calibration");
  // "{delta}" in --out writes one thresholds file per guarantee (--delta and
  // --settings), each certified: all were fixed before the run.
  const std::string out_pattern = args.get("out");
  const bool out_per_delta = out_pattern.find(kDeltaField) != std::string::npos;
  std::vector<std::string> outs;
  for (const Guarantee& g : guarantees) {
    outs.push_back(out_per_delta ? with_delta(out_pattern, g.delta) : out_pattern);
    if (!out_per_delta) break;
  }
  const std::string out = outs.front();
  const std::string cache =
      merge.empty() ? args.get("cache", default_cache(out_per_delta ? with_delta(out_pattern, -1) : out)) : std::string();
  // Before the run: a mistake found after an hour of calibration costs the hour.
  std::vector<LabelledPath> outputs;
  for (const std::string& o : outs) outputs.push_back({"--out", o});
  if (merge.empty()) outputs.push_back({args.has("cache") ? "--cache" : "the cache", cache});
  if (args.has("report"))
    for (const std::string& r : {args.get("report"), csv_path_for(args.get("report"))})
      outputs.push_back({"--report", r});
  if (args.has("write-losses")) outputs.push_back({"--write-losses", args.get("write-losses")});
  std::vector<LabelledPath> inputs{{"--data", data}};
  for (const std::string& m : merge) inputs.push_back({"--merge", m});
  check_distinct_files(outputs, with_model_files(inputs, model));
  // The thresholds file and the report record both paths as JSON text.
  require_utf8(absolute(data), "--data");
  require_utf8(absolute(model.dir), "--model");
  std::vector<Example> examples = read_examples(data, args);
  for (const Guarantee& g : guarantees)
    if (g.consistency == Consistency::Risk) require_references(examples, data);
  CalibrationRun run = Calibrator::prepare(model, data, std::move(examples), settings);
  size_t resumed = 0;
  if (!merge.empty()) {
    merge_caches(merge, run);
    std::cerr << "calibrate: merged " << merge.size() << " caches, " << run.examples.size() << " examples\n";
  } else if (!execute(model, run, cache, threads, "calibrate", &resumed)) {
    return 3;
  }

  const CalibrationReport report = build_report(run, model.tokenizer, model.config.decoder_layers, guarantees);
  const ReportChoice& c = report.choices.front();
  // The grid step as typed: the grid's differences are rounded sums.
  Thresholds t;
  for (size_t k = 0; k < outs.size(); ++k) {
    t = thresholds_from_report(run, report, absolute(model.dir), absolute(data), args.get_double("grid-step", 0.05),
                               k);
    // Every loss was already in the cache: this delta and epsilon are asked of
    // losses that could have been seen, so the answer is exploratory.
    t.exploratory = resumed == run.examples.size();
    write_thresholds(t, outs[k]);
  }
  t = thresholds_from_report(run, report, absolute(model.dir), absolute(data), args.get_double("grid-step", 0.05));
  t.exploratory = resumed == run.examples.size();

  std::cout << "model:   " << model.name << " (" << model.dir << ", hash " << run.model_hash << ", "
            << model.config.decoder_layers << " decoder layers)\n"
            << "data:    " << data << " (" << run.examples.size() << " examples"
            << (settings.limit ? ", a random subset drawn with seed " + std::to_string(settings.limit_seed) : "")
            << ", hash " << run.data_hash << ")\n"
            << "run:     " << measure_name(settings.measure) << " measure, tau " << general(settings.tau) << ", "
            << settings.max_new_tokens << " new tokens at most, " << settings.grid.size() << " grid points\n"
            << "losses:  " << guarantee_text(main) << "\n";
  print_result(report, t);
  if (t.exploratory)
    std::cout << "note:    every example came from the cache " << cache
              << ", so these losses may have been seen before delta and epsilon were chosen: the thresholds file "
                 "is marked exploratory. Delete the cache (or calibrate on other examples) to certify.\n";
  if (args.has("write-losses")) {
    const std::string losses = args.get("write-losses");
    write_output_file(losses,
                      losses_file_text(run, run.loss_table(model.tokenizer, main.consistency, main.metric, {}, main.unit),
                                       main, absolute(model.dir), model.config.decoder_layers),
                      "the losses file");
    std::cout << "wrote " << losses << " (the " << consistency_name(main.consistency) << " " << metric_name(main.metric)
              << " losses on " << text_unit_name(main.unit) << " of every example at every lambda)\n";
  }
  write_outputs(report, outs, args);
  return 0;
}

// ---- calm eval -------------------------------------------------------------

int cmd_eval(const std::vector<std::string>& argv) {
  const Args args(argv,
                  {"model", "weights", "data", "thresholds", "threads", "limit", "limit-seed", "repetition-penalty",
                   "no-repeat-ngram"},
                  {"json", "force", "skip-bad-lines"});
  if (!args.has("thresholds")) throw UsageError("eval needs --thresholds thresholds.json");
  const int threads = threads_of(args, 0, 0);
  limit_of(args);
  const Thresholds t = read_thresholds(args.get("thresholds"));
  std::error_code ec;
  const std::string dir = args.has("model")                          ? resolve_model_dir(args.get("model"))
                          : std::filesystem::is_directory(t.model_dir, ec) ? t.model_dir
                                                                     : resolve_model_dir(t.model_name);
  const Model model = load_model(dir, load_options(args));
  const std::string data = data_file(args, "data", model, "test");
  std::vector<Example> examples = read_examples(data, args);
  if (t.consistency == Consistency::Risk) require_references(examples, data);

  const RunSettings settings = eval_settings(args, t);
  CalibrationRun run = Calibrator::prepare(model, data, std::move(examples), settings);
  if (run.model_hash != t.model_hash && !args.flag("force"))
    throw Error(args.get("thresholds") + " was calibrated for model '" + t.model_name + "' (hash " + t.model_hash +
                ") but " + model.dir + "/model.safetensors has hash " + run.model_hash +
                ": its guarantee does not carry over; calibrate this model, or pass --force to evaluate anyway");
  if (!execute(model, run, "", threads, "eval")) return 3;

  const size_t p = run.settings.grid.size() - 1;  // CALM's point; 0 is the full model
  const LossTable table = run.loss_table(model.tokenizer, t.consistency, t.metric, {}, t.metric_unit);
  const double loss = table.mean_loss(p), loss_se = standard_error(table.losses[p]);
  std::vector<TokenIds> full, early, refs;
  double full_sim = 0.0, early_sim = 0.0;
  WordIds words;  // the thresholds file's unit, as in the loss table
  const bool pieces = t.metric_unit == TextUnit::Pieces;
  const auto units = [&](const std::vector<int>& ids) { return pieces ? ids : words(model.tokenizer.decode(ids)); };
  for (size_t i = 0; i < run.examples.size(); ++i) {
    if (!run.examples[i].reference) continue;
    const std::string& ref = *run.examples[i].reference;
    refs.push_back(pieces ? model.tokenizer.encode(ref) : words(ref));
    full.push_back(units(run.outputs[i]->full));
    early.push_back(units(run.outputs[i]->early[p]));
    full_sim += similarity(t.metric, full.back(), refs.back());
    early_sim += similarity(t.metric, early.back(), refs.back());
  }
  const size_t n = run.examples.size(), with_refs = refs.size();
  const double layers = table.mean_layers(p), full_layers = table.mean_layers(0);
  const double speedup = run.measured_speedup(p), flops_speedup = run.flops_speedup(p);

  if (args.flag("json")) {
    nlohmann::ordered_json j = {{"model", {{"name", model.name}, {"dir", model.dir}, {"hash", run.model_hash}}},
                        {"thresholds", args.get("thresholds")},
                        {"lambda", t.lambda},
                        {"measure", measure_name(t.measure)},
                        {"tau", t.tau},
                        {"repetition_penalty", settings.repetition_penalty},
                        {"no_repeat_ngram_size", settings.no_repeat_ngram},
                        {"data", {{"path", data}, {"examples", n}, {"with_references", with_refs}}},
                        {"vs_full",
                         {{"consistency", consistency_name(t.consistency)},
                          {"metric", metric_name(t.metric)},
                          {"metric_unit", text_unit_name(t.metric_unit)},
                          {"mean_loss", loss},
                          {"mean_loss_se", loss_se},
                          {"delta", t.delta},
                          {"within_delta", loss <= t.delta}}},
                        {"average_layers", layers},
                        {"full_layers", full_layers},
                        {"num_layers", model.config.decoder_layers},
                        {"measured_speedup", speedup},
                        {"flops_speedup", flops_speedup}};
    if (with_refs)
      j["vs_references"] = {{"metric", metric_name(t.metric)},
                            {"metric_unit", text_unit_name(t.metric_unit)},
                            {"full", full_sim / static_cast<double>(with_refs)},
                            {"calm", early_sim / static_cast<double>(with_refs)},
                            {"corpus_bleu_full", corpus_bleu(full, refs)},
                            {"corpus_bleu_calm", corpus_bleu(early, refs)}};
    std::cout << dump_json(j, 2) << "\n";
    return 0;
  }
  std::cout << "model:       " << model.name << " (" << model.dir << ")\n"
            << "thresholds:  " << args.get("thresholds") << ": lambda " << general(t.lambda) << ", "
            << measure_name(t.measure) << " measure, tau " << general(t.tau) << "\n";
  if (settings.repetition_penalty != 1.0 || settings.no_repeat_ngram > 0)
    std::cout << "decoding:    repetition penalty " << general(settings.repetition_penalty) << ", no-repeat n-gram size "
              << settings.no_repeat_ngram << "\n";
  std::cout << "data:        " << data << " (" << n << " examples, " << with_refs << " with references)\n"
            << "vs full:     mean " << consistency_name(t.consistency) << " " << metric_name(t.metric) << " (on "
            << text_unit_name(t.metric_unit) << ") loss "
            << fixed(loss, 4) << " +- " << fixed(loss_se, 4) << ": "
            << (loss <= t.delta ? "within" : "NOT within") << " delta " << general(t.delta) << "\n";
  if (with_refs)
    std::cout << "vs refs:     " << metric_name(t.metric) << " full " << fixed(full_sim / with_refs, 4) << ", CALM "
              << fixed(early_sim / with_refs, 4) << "; corpus BLEU full " << fixed(corpus_bleu(full, refs), 4)
              << ", CALM " << fixed(corpus_bleu(early, refs), 4) << "\n";
  std::cout << "layers:      CALM " << fixed(layers, 2) << " of " << model.config.decoder_layers << " on average\n"
            << "speedup:     " << fixed(speedup, 2) << "x wall-clock (summed full time / summed CALM time), "
            << fixed(flops_speedup, 2) << "x FLOPs\n";
  return 0;
}

// ---- calm validate ---------------------------------------------------------

int cmd_validate(const std::vector<std::string>& argv) {
  const Args args(merge_repeated(argv, {"delta", "settings"}),
                  {"model", "weights", "data", "data2", "consistency", "metric", "delta", "epsilon", "measure", "tau",
                   "max-new-tokens", "first-exit-layer", "check-interval", "grid-step", "pvalue", "splits", "seed",
                   "cache", "threads", "limit", "limit-seed", "metric-unit", "settings", "methods", "calibration-size", "kv", "gate", "gate-threshold",
                   "repetition-penalty", "no-repeat-ngram"},
                  {"skip-bad-lines"});
  const Guarantee base = base_guarantee(args);
  std::vector<Guarantee> guarantees;
  if (args.has("delta")) guarantees = delta_list(args, base);
  if (args.has("settings"))
    for (const Guarantee& g : settings_list(args.get("settings"), base)) guarantees.push_back(g);
  if (guarantees.empty()) throw UsageError("validate needs --delta D[,D...] or --settings LIST (e.g. paper)");
  const RunSettings settings = run_settings(args);
  const int splits_count = args.get_int("splits", 200, 1, OptionBounds::kMaxSplits), threads = threads_of(args, 0, 0);
  std::vector<std::string> methods = split_commas(args.get("methods", calibration_method_name(base.method)));
  for (const std::string& m : methods)
    if (m != "empirical-mean") parse_name([](const std::string& s) { return parse_calibration_method(s); }, m);
  if (methods.empty()) throw UsageError("--methods lists no method");
  const int seed = args.get_int("seed", 0, 0, INT32_MAX);
  if (args.has("data2") && !args.has("data")) throw UsageError("--data2 needs --data");
  limit_of(args);

  const Model model = load_model_arg(args);
  std::vector<std::string> files{data_file(args, "data", model, "calibration")};
  if (args.has("data2")) files.push_back(args.get("data2"));
  else if (!args.has("data")) files.push_back(data_file(args, "data2", model, "test"));
  std::vector<Example> pooled;
  std::string pooled_name;
  const bool risk = std::any_of(guarantees.begin(), guarantees.end(),
                                [](const Guarantee& g) { return g.consistency == Consistency::Risk; });
  for (const auto& f : files) {
    std::vector<Example> part = read_examples(f, args);
    if (risk) require_references(part, f);
    pooled.insert(pooled.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    pooled_name += (pooled_name.empty() ? "" : " + ") + f;
  }
  if (pooled.size() < 2) throw Error(pooled_name + ": validation needs at least 2 examples");
  if (args.has("cache")) {
    std::vector<LabelledPath> inputs;
    for (const auto& f : files) inputs.push_back({"the data set", f});
    check_distinct_files({{"--cache", args.get("cache")}}, with_model_files(inputs, model));
  }
  // Checked before the run, like every option (docs/hardening.md).
  const size_t calibration_size =
      args.has("calibration-size") ? static_cast<size_t>(args.get_int("calibration-size", 0))
                                   : std::clamp<size_t>(static_cast<size_t>(std::llround(0.8 * pooled.size())),
                                                        1, pooled.size() - 1);
  if (calibration_size < 1 || calibration_size >= pooled.size())
    throw UsageError("--calibration-size must be from 1 to " + std::to_string(pooled.size() - 1));
  CalibrationRun run = Calibrator::prepare(model, pooled_name, std::move(pooled), settings);
  if (!execute(model, run, args.get("cache"), threads, "validate")) return 3;

  const auto splits = random_splits_of_size(run.examples.size(), splits_count, static_cast<uint64_t>(seed),
                                            calibration_size);
  std::map<std::tuple<Consistency, Metric, TextUnit>, LossTable> tables;
  std::vector<ValidationSummary> rows;
  for (const Guarantee& g : guarantees) {
    const auto key = std::make_tuple(g.consistency, g.metric, g.unit);
    if (!tables.count(key)) tables[key] = run.loss_table(model.tokenizer, g.consistency, g.metric, {}, g.unit);
    for (const std::string& method : methods) {
      Guarantee gm = g;
      ValidationSummary v;
      if (method == "empirical-mean") {
        v = validate_selector(tables[key], empirical_mean_selector(g.delta), method, gm, splits);
      } else {
        gm.method = parse_calibration_method(method);
        v = validate_guarantee(tables[key], gm, splits);
      }
      add_speedups(v, run, splits);
      rows.push_back(v);
    }
  }

  const int L = model.config.decoder_layers;
  std::cout << "Model `" << model.name << "` (hash " << run.model_hash << ", " << L << " decoder layers); "
            << run.examples.size() << " pooled examples from " << pooled_name
            << (settings.limit ? " (" + std::to_string(settings.limit) + " of each drawn at random, seed " +
                                     std::to_string(settings.limit_seed) + ")"
                               : "")
            << "; " << splits_count << " random splits of " << rows.front().calibration_size << " calibration / "
            << rows.front().test_size << " test (seed " << seed << "); " << measure_name(settings.measure)
            << " measure, tau " << general(settings.tau) << ", " << settings.max_new_tokens
            << " new tokens at most, grid step " << general(args.get_double("grid-step", 0.05)) << ".\n\n"
            << "True risk: the mean loss of a lambda over all pooled examples, the population the calibration "
               "parts are drawn from. LTT methods (hb, hoeffding, bentkus, wsr) promise P[true risk of the chosen "
               "lambda > delta] <= epsilon; crc promises mean true risk <= delta; empirical-mean promises nothing "
               "(a deliberately broken selector). Intervals: Clopper-Pearson 95%.\n\n"
            << "| consistency | metric | delta | epsilon | method | true risk > delta (splits, 95% CI) "
               "| mean true risk +- se | test-part loss > delta (splits, 95% CI) | mean lambda | average layers "
               "| measured speedup | FLOPs speedup |\n"
            << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  const auto ci_text = [](size_t k, int n, const Interval& ci) {
    return std::to_string(k) + "/" + std::to_string(n) + " = " + fixed(static_cast<double>(k) / n, 3) + " [" +
           fixed(ci.lower, 3) + ", " + fixed(ci.upper, 3) + "]";
  };
  for (const auto& v : rows) {
    const Guarantee& g = v.guarantee;
    std::cout << "| " << consistency_name(g.consistency) << " | " << metric_name(g.metric) << " ("
              << text_unit_name(g.unit) << ") | " << general(g.delta) << " | "
              << (is_learn_then_test(g.method) ? general(g.epsilon) : std::string("none")) << " | "
              << v.selector << " | " << ci_text(v.true_violations, v.splits, v.true_violation_ci) << " | "
              << fixed(v.mean_true_risk, 4) << " +- " << fixed(v.true_risk_se, 4) << " | "
              << ci_text(v.violations, v.splits, v.violation_ci) << " | " << fixed(v.mean_lambda, 3) << " | "
              << fixed(v.mean_test_layers, 2) << " of " << L << " | " << fixed(v.measured_speedup, 2) << "x | "
              << fixed(v.flops_speedup, 2) << "x |\n";
  }
  // How close to delta the design is: the most aggressive lambda an oracle
  // that knew the true risks could take, and the true risk one step further.
  std::cout << "\nTrue risk near delta (the design's power: a violation needs a lambda whose true risk is above "
               "delta but whose calibration mean can fall below it):\n\n";
  for (const auto& v : rows) {
    if (v.selector != methods.front()) continue;
    size_t oracle = 0;
    while (oracle + 1 < v.pool_risk.size() && v.pool_risk[oracle + 1] <= v.guarantee.delta) ++oracle;
    std::cout << "- " << consistency_name(v.guarantee.consistency) << " " << metric_name(v.guarantee.metric)
              << ", delta " << general(v.guarantee.delta) << ": the fixed sequence's last lambda with true risk <= "
              << "delta is " << general(settings.grid[oracle]) << " (true risk " << fixed(v.pool_risk[oracle], 4)
              << ")";
    if (oracle + 1 < v.pool_risk.size())
      std::cout << "; the next, " << general(settings.grid[oracle + 1]) << ", has true risk "
                << fixed(v.pool_risk[oracle + 1], 4);
    std::cout << "\n";
  }
  // The distribution of the chosen lambda's true risk, relative to delta.
  const double edges[] = {0.0, 0.5, 0.8, 0.9, 1.0, 1.1, 1.25};
  std::cout << "\nTrue risk of the chosen lambda / delta, splits per bin:\n\n"
            << "| consistency | delta | method | < 0.5 | 0.5-0.8 | 0.8-0.9 | 0.9-1.0 | 1.0-1.1 | 1.1-1.25 | >= 1.25 |\n"
            << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& v : rows) {
    int bins[7] = {0, 0, 0, 0, 0, 0, 0};
    for (const auto& o : v.outcomes) {
      const double r = o.true_risk / v.guarantee.delta;
      int b = 0;
      while (b < 6 && r >= edges[b + 1] && !(b + 1 == 4 && r == 1.0)) ++b;  // exactly delta is not a violation
      ++bins[b];
    }
    std::cout << "| " << consistency_name(v.guarantee.consistency) << " " << metric_name(v.guarantee.metric) << " | "
              << general(v.guarantee.delta) << " | " << v.selector;
    for (int b : bins) std::cout << " | " << b;
    std::cout << " |\n";
  }
  std::cout << "\nCommand: `" << command_line("validate", argv) << "`\n";
  return 0;
}

}  // namespace calm::cli
