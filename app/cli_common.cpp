#include "cli_common.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "calibrate/bundled.h"
#include "calibrate/sampling.h"
#include "decode/option_bounds.h"
#include "model/catalog.h"
#include "util/hash.h"

namespace calm::cli {

LoadOptions load_options(const Args& args) {
  LoadOptions options;
  if (args.has("weights")) options.weights = parse_name(parse_weight_type, args.get("weights"));
  return options;
}

Model load_model_arg(const Args& args) {
  return load_model(args.has("model") ? resolve_model_dir(args.get("model")) : default_model_dir(),
                    load_options(args));
}

int threads_of(const Args& args, int fallback, int lo) { return args.get_int("threads", fallback, lo, OptionBounds::kMaxThreads); }

int limit_of(const Args& args) {
  const int limit = args.get_int("limit", 0);
  if (limit < 0 || (args.has("limit") && limit == 0)) throw UsageError("--limit needs a positive count");
  return limit;
}

uint64_t limit_seed_of(const Args& args) {
  const int seed = args.get_int("limit-seed", 0);
  if (seed < 0) throw UsageError("--limit-seed must not be negative");
  return static_cast<uint64_t>(seed);
}

std::string data_file(const Args& args, const std::string& option, const Model& model, const std::string& split) {
  if (args.has(option)) return args.get(option);
  const std::string path = bundled_data_file(model.name, split);
  if (path.empty())
    throw UsageError("no --" + option + " given, and model '" + model.name + "' has no bundled " + split +
                     " set (resources/data/" + model.name + "/" + split + ".jsonl)");
  return path;
}

std::vector<Example> read_examples(const std::string& path, const Args& args) {
  JsonlOptions options;
  options.policy = args.flag("skip-bad-lines") ? BadLinePolicy::Skip : BadLinePolicy::Stop;
  JsonlResult r = read_jsonl(path, options);
  for (const auto& p : r.problems) std::cerr << "calm: skipped " << p.message << "\n";
  if (!r.problems.empty()) std::cerr << "calm: skipped " << r.problems.size() << " bad lines of " << path << "\n";
  r.examples = random_examples(std::move(r.examples), static_cast<size_t>(limit_of(args)), limit_seed_of(args));
  if (r.examples.empty()) throw Error(path + ": no usable examples");
  return std::move(r.examples);
}

std::string prompt_arg(const Args& args) {
  if (args.has("prompt") == args.has("prompt-file"))
    throw UsageError("generate needs one of --prompt TEXT or --prompt-file PATH");
  if (args.has("prompt")) return args.get("prompt");
  const std::string path = args.get("prompt-file");
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the prompt file (missing or unreadable)");
    std::ostringstream all;
    all << in.rdbuf();
    if (in.bad()) throw Error(path + ": read failed");
    text = all.str();
  }
  if (text.size() >= 1 && text.back() == '\n') text.pop_back();
  if (text.size() >= 1 && text.back() == '\r') text.pop_back();
  return text;
}

std::vector<LabelledPath> with_model_files(std::vector<LabelledPath> inputs, const Model& model) {
  for (LabelledPath& f : model_input_files(model.dir)) inputs.push_back(std::move(f));
  return inputs;
}

const std::vector<std::string> kDecodeOptionNames = {
    "measure", "lambda", "tau", "max-new-tokens", "policy", "static-layer", "first-exit-layer", "check-interval",
    "kv", "gate", "gate-threshold", "verify", "temperature", "top-k", "seed", "repetition-penalty", "no-repeat-ngram"};

DecodeOptions decode_options(const Args& args) {
  using B = OptionBounds;
  DecodeOptions o;
  o.measure = parse_name(parse_measure, args.get("measure", "softmax"));
  o.policy = parse_name(parse_policy, args.get("policy", "calm"));
  o.lambda = args.get_double("lambda", 1.0, 0.0, 1.0);
  o.tau = args.get_double("tau", 4.0, 0.0, B::kMaxTau);
  o.max_new_tokens = args.get_int("max-new-tokens", 64, 1, B::kMaxNewTokens);
  o.static_layer = args.get_int("static-layer", 1, 1, B::kMaxLayerOption);
  o.first_exit_layer = args.get_int("first-exit-layer", 1, 1, B::kMaxLayerOption);
  o.check_interval = args.get_int("check-interval", 1, 1, B::kMaxLayerOption);
  o.kv_mode = parse_name(parse_kv_mode, args.get("kv", "propagate"));
  o.gate = parse_name(parse_gate, args.get("gate", "none"));
  o.gate_threshold = args.get_double("gate-threshold", 0.9, -1.0, 1.0);
  o.verify_draft = args.get_int("verify", 0, 0, B::kMaxVerifyDraft);
  o.temperature = static_cast<float>(args.get_double("temperature", 0.0, 0.0, B::kMaxTemperature));
  o.top_k = args.get_int("top-k", 0, 0, INT32_MAX);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0, INT32_MAX));
  o.repetition_penalty = args.get_double("repetition-penalty", 1.0, 0.0, B::kMaxRepetitionPenalty);
  if (!(o.repetition_penalty > 0.0))
    throw UsageError("option --repetition-penalty must be above 0 (1 = off; above 1 discourages repeats)");
  o.no_repeat_ngram = args.get_int("no-repeat-ngram", 0, 0, B::kMaxNoRepeatNgram);
  o.truncate_prompt = args.flag("truncate");
  return o;
}

namespace {

// The model's bundled thresholds files, when a calm decode without --lambda
// would take its lambda from them; none otherwise.
std::vector<BundledThresholds> bundled_candidates(const Args& args, const Model& model, const DecodeOptions& options) {
  if (args.has("lambda") || options.policy != ExitPolicy::Calm) return {};
  std::error_code ec;
  if (!std::filesystem::is_directory(std::filesystem::path(model.dir) / "thresholds", ec)) return {};
  return bundled_thresholds(model.dir, file_hash(model.dir + "/model.safetensors"));
}

}  // namespace

std::optional<BundledThresholds> bundled_certification(const Args& args, const Model& model,
                                                       const DecodeOptions& options) {
  const std::vector<BundledThresholds> files = bundled_candidates(args, model, options);
  const BundledThresholds* b = find_thresholds(files, options, Guarantee{});
  if (!b) return std::nullopt;
  return *b;
}

std::string bundled_lambda_missing(const Args& args, const Model& model, const DecodeOptions& options) {
  const std::vector<BundledThresholds> files = bundled_candidates(args, model, options);
  if (find_thresholds(files, options, Guarantee{})) return "";
  for (const BundledThresholds& f : files) {
    if (!certifies(f.thresholds, Guarantee{}) || f.thresholds.measure != options.measure) continue;
    std::string why;
    for (const std::string& d : settings_differences(f.thresholds.run_settings(), options))
      why += (why.empty() ? "" : ", ") + d;
    if (why.empty()) continue;
    return "lambda 1 (the full model): the model's bundled calibration " +
           std::filesystem::path(f.path).filename().string() + " used " + why +
           ", so it does not cover these settings; calm calibrate with them certifies a lambda";
  }
  return "";
}

std::string apply_bundled_lambda(const Args& args, const Model& model, DecodeOptions& options) {
  const std::optional<BundledThresholds> b = bundled_certification(args, model, options);
  if (!b) return "";
  const Thresholds& t = b->thresholds;
  options.lambda = t.lambda;
  return "lambda " + fixed(t.lambda, 2) + " certified by the model's bundled calibration " +
         std::filesystem::path(b->path).filename().string() + " (textual rougeL, delta " + fixed(t.delta, 2) +
         ", epsilon " + fixed(t.epsilon, 2) + ", " + std::to_string(t.examples) + " examples, " +
         t.created.substr(0, 10) + "); --lambda 1 runs the full model";
}

std::string fixed(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace calm::cli
