#include "serve/completion_request.h"

#include <cstdint>
#include <set>

#include "decode/option_bounds.h"
#include "util/error.h"
#include "util/json_file.h"

namespace calm::serve {

using nlohmann::json;

ServeMode parse_serve_mode(const std::string& name) {
  if (name == "calm") return ServeMode::Calm;
  if (name == "verify") return ServeMode::Verify;
  if (name == "full") return ServeMode::Full;
  throw Error("unknown mode '" + name + "' (calm, verify or full)");
}

const char* serve_mode_name(ServeMode mode) {
  switch (mode) {
    case ServeMode::Calm: return "calm";
    case ServeMode::Verify: return "verify";
    case ServeMode::Full: return "full";
  }
  return "?";
}

namespace {

const std::set<std::string> kKeys = {"model", "prompt", "max_tokens", "temperature", "top_k", "seed",
                                     "stop",  "stream", "calm",       "n",           "user", "repetition_penalty",
                                     "no_repeat_ngram_size"};
const std::set<std::string> kCalmKeys = {"mode", "lambda"};

void refuse_unknown_keys(const json& object, const std::set<std::string>& known, const std::string& prefix) {
  for (const auto& [key, value] : object.items()) {
    if (known.count(key)) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error("request: key '" + prefix + excerpt(key, 60) + "' is not supported by this server (it takes " +
                list + ")");
  }
}

std::vector<std::string> stop_sequences(const JsonReader& r, const RequestLimits& limits) {
  if (!r.has("stop")) return {};
  const json& v = r.get("stop");
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(r.string("stop"));
  } else if (v.is_array()) {
    if (v.size() > limits.max_stop_sequences)
      r.fail("stop", "holds " + std::to_string(v.size()) + " sequences; at most " +
                         std::to_string(limits.max_stop_sequences) + " are allowed");
    for (const json& s : v) {
      if (!s.is_string()) r.fail("stop", "must be a string or an array of strings, got " + json_excerpt(s));
      out.push_back(s.get<std::string>());
      if (out.back().empty()) r.fail("stop", "must not hold an empty string");
    }
  } else {
    r.fail("stop", "must be a string or an array of strings, got " + json_excerpt(v));
  }
  for (const std::string& s : out)
    if (s.size() > limits.max_stop_bytes)
      r.fail("stop", "holds a sequence of " + std::to_string(s.size()) + " bytes; at most " +
                         std::to_string(limits.max_stop_bytes) + " are allowed");
  return out;
}

}  // namespace

CompletionRequest parse_completion_request(std::string_view body, const ServeSettings& settings,
                                           const std::string& model_name) {
  const RequestLimits& limits = settings.limits;
  // The body's size is bounded by the HTTP layer; bound the values it may parse into too.
  const json j = parse_json_object(body, {"a completion request", limits.max_body_bytes, 1 << 16}, "request");
  refuse_unknown_keys(j, kKeys, "");
  const JsonReader r(j, "request");
  CompletionRequest q;
  q.options = settings.rule;

  if (r.has("model") && r.string("model") != model_name)
    r.fail("model", "names " + JsonReader::quoted(r.string("model")) + ", but this server serves only '" +
                        model_name + "'");
  q.prompt = r.string("prompt");  // missing, not a string, or empty: refused by name
  if (q.prompt.size() > limits.max_prompt_bytes)
    r.fail("prompt", "is " + std::to_string(q.prompt.size()) + " bytes long; at most " +
                         std::to_string(limits.max_prompt_bytes) + " are allowed");
  if (r.has("n")) r.integer("n", 1, 1);

  const int most = settings.rule.max_new_tokens;
  q.max_tokens = r.has("max_tokens") ? static_cast<int>(r.integer("max_tokens", 1, most)) : most;
  if (r.has("temperature"))
    q.options.temperature = static_cast<float>(r.number("temperature", 0.0, OptionBounds::kMaxTemperature));
  if (r.has("top_k")) q.options.top_k = static_cast<int>(r.integer("top_k", 0, INT32_MAX));
  if (r.has("seed")) q.options.seed = static_cast<uint64_t>(r.integer("seed", 0, INT64_MAX));
  if (r.has("repetition_penalty")) {
    q.options.repetition_penalty = r.number("repetition_penalty", 0.0, OptionBounds::kMaxRepetitionPenalty);
    if (!(q.options.repetition_penalty > 0.0)) r.fail("repetition_penalty", "must be above 0 (1 = off)");
  }
  if (r.has("no_repeat_ngram_size"))
    q.options.no_repeat_ngram = static_cast<int>(r.integer("no_repeat_ngram_size", 0, OptionBounds::kMaxNoRepeatNgram));
  q.remedies_changed = q.options.repetition_penalty != settings.rule.repetition_penalty ||
                       q.options.no_repeat_ngram != settings.rule.no_repeat_ngram;
  if (r.has("stream")) q.stream = r.boolean("stream");
  q.stop = stop_sequences(r, limits);

  if (r.has("calm")) {
    const JsonReader c = r.object("calm");
    refuse_unknown_keys(r.get("calm"), kCalmKeys, "calm.");
    if (c.has("mode")) q.mode = c.name("mode", parse_serve_mode);
    if (c.has("lambda")) {
      if (!settings.allow_lambda)
        c.fail("lambda", "may not be set: this server decodes with its own lambda (start it with --allow-lambda "
                         "to allow this; the thresholds file's guarantee then no longer applies)");
      q.options.lambda = c.number("lambda", 0.0, 1.0);
      q.lambda_overridden = true;
    }
  }
  switch (q.mode) {
    case ServeMode::Calm:
      break;
    case ServeMode::Full:
      q.options = q.options.full_model();  // keeps the sampling settings
      break;
    case ServeMode::Verify:
      if (q.options.temperature != 0.0f)
        r.fail("calm.mode", "'verify' gives the full model's greedy output and takes no temperature");
      if (q.options.policy != ExitPolicy::Calm || q.options.kv_mode != KvMode::Propagate)
        r.fail("calm.mode", "'verify' needs the calm exit policy with propagated K/V, which this server does not use");
      if (q.options.verify_draft == 0) q.options.verify_draft = settings.verify_draft;
      break;
  }
  q.options.trace = false;
  q.options.truncate_prompt = false;  // an over-long prompt is refused, never silently cut
  return q;
}

}  // namespace calm::serve
