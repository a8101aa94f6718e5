#include "decode/exit_rule.h"

#include <limits>
#include <sstream>

#include "decode/option_bounds.h"
#include "util/error.h"
#include "util/json_file.h"

namespace calm {

ExitPolicy parse_policy(const std::string& name) {
  if (name == "calm") return ExitPolicy::Calm;
  if (name == "full") return ExitPolicy::Full;
  if (name == "static") return ExitPolicy::Static;
  if (name == "oracle") return ExitPolicy::Oracle;
  throw Error("unknown exit policy '" + name + "' (expected calm, full, static or oracle)");
}

const char* policy_name(ExitPolicy policy) {
  switch (policy) {
    case ExitPolicy::Calm: return "calm";
    case ExitPolicy::Full: return "full";
    case ExitPolicy::Static: return "static";
    case ExitPolicy::Oracle: return "oracle";
  }
  return "?";
}

KvMode parse_kv_mode(const std::string& name) {
  if (name == "propagate") return KvMode::Propagate;
  if (name == "exact") return KvMode::Exact;
  if (name == "catch-up") return KvMode::CatchUp;
  throw Error("unknown K/V mode '" + name + "' (expected propagate, exact or catch-up)");
}

const char* kv_mode_name(KvMode mode) {
  switch (mode) {
    case KvMode::Propagate: return "propagate";
    case KvMode::Exact: return "exact";
    case KvMode::CatchUp: return "catch-up";
  }
  return "?";
}

Gate parse_gate(const std::string& name) {
  if (name == "none") return Gate::None;
  if (name == "state") return Gate::State;
  if (name == "classifier") return Gate::Classifier;
  throw Error("unknown gate '" + name + "' (expected none, state or classifier)");
}

const char* gate_name(Gate gate) {
  switch (gate) {
    case Gate::None: return "none";
    case Gate::State: return "state";
    case Gate::Classifier: return "classifier";
  }
  return "?";
}

ExitRule ExitRule::full_model() const {
  ExitRule full = *this;
  full.policy = ExitPolicy::Full;
  full.lambda = 1.0;
  full.static_layer = 1;
  full.gate = Gate::None;
  full.kv_mode = KvMode::Propagate;  // nothing is skipped
  full.verify_draft = 0;             // verify mode drafts with the calm policy only
  return full;
}

void ExitRule::validate() const {
  if (first_exit_layer < 1) throw Error("the first exit layer must be at least 1");
  if (check_interval < 1) throw Error("the exit check interval must be at least 1");
  using B = OptionBounds;
  if (max_new_tokens < 0 || max_new_tokens > B::kMaxNewTokens)
    throw Error("max new tokens must be from 0 to " + std::to_string(B::kMaxNewTokens) + ", got " +
                std::to_string(max_new_tokens));
  if (!(lambda >= 0.0) || !(tau >= 0.0 && tau <= B::kMaxTau))
    throw Error("lambda and tau must be non-negative numbers (tau at most 1000)");
  if (verify_draft < 0 || verify_draft > B::kMaxVerifyDraft)
    throw Error("the verify draft length must be from 0 to " + std::to_string(B::kMaxVerifyDraft));
  if (verify_draft > 0) {
    if (policy != ExitPolicy::Calm) throw Error("verify mode drafts with the calm policy only");
    if (kv_mode != KvMode::Propagate) throw Error("verify mode drafts with propagated K/V (--kv propagate)");
  }
  if (!(repetition_penalty > 0.0 && repetition_penalty <= B::kMaxRepetitionPenalty)) {
    std::ostringstream got;
    got << repetition_penalty;
    throw Error("the repetition penalty must be above 0 and at most 1000 (1 = off), got " + got.str());
  }
  if (no_repeat_ngram < 0 || no_repeat_ngram > B::kMaxNoRepeatNgram)
    throw Error("the no-repeat n-gram size must be from 0 (off) to " + std::to_string(B::kMaxNoRepeatNgram) + ", got " +
                std::to_string(no_repeat_ngram));
}

nlohmann::ordered_json ExitRule::to_json() const {
  nlohmann::ordered_json j = {{"measure", measure_name(measure)},
                              {"tau", tau},
                              {"lambda", lambda},
                              {"max_new_tokens", max_new_tokens},
                              {"first_exit_layer", first_exit_layer},
                              {"check_interval", check_interval},
                              {"kv_mode", kv_mode_name(kv_mode)}};
  if (gate != Gate::None) {
    j["gate"] = gate_name(gate);
    j["gate_threshold"] = gate_threshold;
  }
  if (policy != ExitPolicy::Calm) j["policy"] = policy_name(policy);
  if (policy == ExitPolicy::Static) j["static_layer"] = static_layer;
  if (verify_draft > 0) j["verify_draft"] = verify_draft;
  if (repetition_penalty != 1.0) j["repetition_penalty"] = repetition_penalty;
  if (no_repeat_ngram > 0) j["no_repeat_ngram_size"] = no_repeat_ngram;
  return j;
}

ExitRule ExitRule::from_json(const JsonReader& r) {
  ExitRule rule;
  rule.measure = r.name("measure", [](const std::string& s) { return parse_measure(s); });
  rule.tau = r.number("tau", 0.0, OptionBounds::kMaxTau);
  rule.lambda = r.number("lambda", 0.0, 1.0);
  rule.max_new_tokens = static_cast<int>(r.integer("max_new_tokens", 1, OptionBounds::kMaxNewTokens));
  rule.first_exit_layer = static_cast<int>(r.integer("first_exit_layer", 1, OptionBounds::kMaxLayerOption));
  rule.check_interval = static_cast<int>(r.integer("check_interval", 1, OptionBounds::kMaxLayerOption));
  rule.kv_mode = r.name("kv_mode", [](const std::string& s) { return parse_kv_mode(s); });
  if (r.has("gate")) {
    rule.gate = r.name("gate", [](const std::string& s) { return parse_gate(s); });
    rule.gate_threshold = r.number("gate_threshold", -1.0, 1.0);
  }
  if (r.has("policy")) rule.policy = r.name("policy", [](const std::string& s) { return parse_policy(s); });
  if (rule.policy == ExitPolicy::Static)
    rule.static_layer = static_cast<int>(r.integer("static_layer", 1, OptionBounds::kMaxLayerOption));
  if (r.has("verify_draft")) rule.verify_draft = static_cast<int>(r.integer("verify_draft", 0, OptionBounds::kMaxVerifyDraft));
  // Absent in files written before the remedies existed: they were off.
  if (r.has("repetition_penalty")) {
    rule.repetition_penalty = r.number("repetition_penalty", 0.0, OptionBounds::kMaxRepetitionPenalty);
    if (rule.repetition_penalty <= 0.0) r.fail("repetition_penalty", "must be above 0 (1 = off)");
  }
  if (r.has("no_repeat_ngram_size"))
    rule.no_repeat_ngram = static_cast<int>(r.integer("no_repeat_ngram_size", 0, OptionBounds::kMaxNoRepeatNgram));
  try {
    rule.validate();
  } catch (const Error& e) {
    r.fail(rule.verify_draft > 0 ? "verify_draft" : "policy", e.what());
  }
  return rule;
}

}  // namespace calm
