// The exit rule: everything that decides where a token leaves the decoder,
// what the skipped layers get and how each exit's logits are shaped before
// the measure and the token choice see them, as one value. The decoder's options, the
// calibration settings, the thresholds file and the app's controls each are
// one (they derive from it), so a field is added here once, written to JSON in
// one form, checked by one validation and compared by one equality.
//
// CALM (Schuster et al., "Confident Adaptive Language Modeling", NeurIPS 2022):
// after each layer allowed to exit, a confidence measure is compared with the
// decaying threshold lambda_t = clip01(0.9 lambda + 0.1 exp(-tau t / N)).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "decode/measure.h"

namespace calm {

class JsonReader;

enum class ExitPolicy {
  Calm,    // exit when the measure clears lambda_t
  Full,    // never exit (same as Calm with lambda = 1)
  Static,  // every token exits at static_layer
  Oracle,  // local oracle: the first layer whose argmax equals the top layer's
};
enum class KvMode {
  Propagate,  // skipped layers compute their K/V from the exit state (the paper's)
  Exact,      // skipped layers run for real at once; analysis only, no speedup
  CatchUp,    // skipped layers run for real later, batched with the next token
              // that goes deeper (in the manner of FREE): the same outputs as
              // Exact, the deep work done in matrix-matrix products
};
// A cheap test that must pass before a softmax measure pays for the
// vocabulary projection (ignored for the state and classifier measures).
enum class Gate {
  None,
  State,       // cosine of the hidden state with the previous layer's >= gate_threshold
  Classifier,  // the early-exit classifier's probability >= gate_threshold
};

ExitPolicy parse_policy(const std::string& name);  // "calm", "full", "static", "oracle"
const char* policy_name(ExitPolicy policy);
KvMode parse_kv_mode(const std::string& name);    // "propagate", "exact", "catch-up"
const char* kv_mode_name(KvMode mode);
Gate parse_gate(const std::string& name);         // "none", "state", "classifier"
const char* gate_name(Gate gate);

struct ExitRule {
  ExitPolicy policy = ExitPolicy::Calm;
  Measure measure = Measure::Softmax;
  double lambda = 1.0;        // 1 = never exit: exactly the full model
  double tau = 4.0;           // decay of the threshold over the output
  int static_layer = 1;       // ExitPolicy::Static, 1-based
  int max_new_tokens = 64;    // also N of the threshold schedule
  int first_exit_layer = 1;   // 1-based: the first layer allowed to exit
  int check_interval = 1;     // check every k-th layer from first_exit_layer on
  Gate gate = Gate::None;
  double gate_threshold = 0.9;
  KvMode kv_mode = KvMode::Propagate;
  // Verify mode (lossless, greedy only): draft up to `verify_draft` tokens with
  // the exit rule, then run them through the layers above the lowest exit
  // together and keep the longest prefix the full model agrees with, plus the
  // full model's token at the first disagreement. The output is the full
  // model's. 0 = off.
  int verify_draft = 0;
  // Remedies against greedy loops, as Hugging Face transformers defines them
  // (decode/repetition.h): a penalty on every token id already in the
  // sequence (1 = off), and a ban on any token that would complete an n-gram
  // already in it (0 = off). They reshape each exit's distribution before the
  // softmax measure and the token choice, so they change both where tokens
  // leave and what they are: a calibration holds only for the same values.
  double repetition_penalty = 1.0;
  int no_repeat_ngram = 0;

  // Whether a token can leave before the top layer by the measure: the calm
  // policy with lambda below 1.
  bool calm_exits() const { return policy == ExitPolicy::Calm && !never_exits(static_cast<float>(lambda)); }
  // lambda_t at output position t (the decoder computes in float).
  float threshold(int t) const {
    return threshold_at(static_cast<float>(lambda), static_cast<float>(tau), t, max_new_tokens);
  }
  // The same rule run through the full depth: what early exits are compared
  // with. Only max_new_tokens, the repetition remedies (the same output
  // distribution) and the measure (for the trace) carry over in effect;
  // nothing is skipped, drafted or gated.
  ExitRule full_model() const;

  // Throws calm::Error naming the field when the rule cannot be decoded with
  // (a negative tau, a check interval of 0, verify mode with another policy...).
  // What depends on the model (layers, a classifier head) the decoder checks.
  void validate() const;

  // The rule's JSON form, shared by the thresholds file and the calibration
  // cache: measure, lambda, tau, max_new_tokens, first_exit_layer,
  // check_interval, kv_mode; the optional keys gate and gate_threshold,
  // policy (and static_layer), verify_draft, repetition_penalty and
  // no_repeat_ngram_size (the field no_repeat_ngram) only when not at their defaults,
  // so files written before they existed read and compare the same.
  nlohmann::ordered_json to_json() const;
  // Reads that form (an absent lambda is 1; absent optional keys their
  // defaults) and validates it; messages name the source and the key.
  static ExitRule from_json(const JsonReader& r);

  // The rule part of a struct that derives from it (decoding options,
  // calibration settings, a thresholds file, the app's controls).
  const ExitRule& rule() const { return *this; }
  ExitRule& rule() { return *this; }

  bool operator==(const ExitRule&) const = default;
};

}  // namespace calm
