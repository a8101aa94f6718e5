// The decoder's entry points and its token loop. The pieces live beside it:
// exit_decision.cpp decides where a position leaves (threshold schedule,
// gate, measure); kv_propagate.cpp, kv_exact.cpp and kv_catch_up.cpp fill the
// skipped layers' caches; verify.cpp is verify mode's loop; analysis.cpp the
// trace and oracle pass; step.cpp one position's walk up the layers;
// prompt.cpp and sampling.cpp what comes before and after.
#include "decode/decoder.h"

#include <atomic>
#include <chrono>
#include <random>

#include "decode/analysis.h"
#include "decode/exit_decision.h"
#include "decode/kv_strategy.h"
#include "decode/option_bounds.h"
#include "decode/prompt.h"
#include "decode/sampling.h"
#include "decode/step.h"
#include "decode/verify.h"
#include "nn/forward.h"
#include "util/error.h"

namespace calm {

using namespace decode;

double DecodeResult::average_layers() const {
  if (exit_layers.empty()) return 0.0;
  double sum = 0.0;
  for (int layer : exit_layers) sum += layer;
  return sum / static_cast<double>(exit_layers.size());
}

std::vector<int> DecodeResult::text_tokens() const {
  std::vector<int> ids = tokens;
  if (stopped_at_eos && !ids.empty()) ids.pop_back();
  return ids;
}

DecodeOptions DecodeOptions::full_model() const {
  DecodeOptions full = *this;
  full.rule() = rule().full_model();
  full.exit_schedule.clear();
  full.trace = false;
  return full;
}

namespace {

void check_options(const Model& model, const DecodeOptions& o) {
  const int layers = model.config.decoder_layers;
  const bool uses_classifier = (o.measure == Measure::Classifier && (o.policy == ExitPolicy::Calm || o.trace)) ||
                               (o.gate == Gate::Classifier && measure_needs_logits(o.measure));
  if (uses_classifier && !model.config.has_classifier())
    throw Error(model.dir + ": the classifier measure needs an early-exit classifier head, and this model has none "
                "(config.json has no \"calm\" block); use softmax or state");
  if (o.policy == ExitPolicy::Static && (o.static_layer < 1 || o.static_layer > layers))
    throw Error("static exit layer " + std::to_string(o.static_layer) + " is outside 1.." + std::to_string(layers));
  for (int layer : o.exit_schedule)
    if (layer < 1 || layer > layers)
      throw Error("exit schedule layer " + std::to_string(layer) + " is outside 1.." + std::to_string(layers));
  o.validate();
  if (!(o.temperature >= 0.0f && o.temperature <= OptionBounds::kMaxTemperature))
    throw Error("temperature must be from 0 to 1000");
  if (o.verify_draft > 0) {
    if (o.temperature > 0.0f) throw Error("verify mode is greedy: it reproduces the full model's greedy output");
    if (o.trace) throw Error("verify mode records no per-layer trace");
  }
}

void finish(const Model& model, Clock::time_point start, DecodeResult& r, Laps& laps) {
  r.text = model.tokenizer.decode(r.text_tokens());
  laps.lap(r.profile.tokenizer);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

Decoder::Decoder(const Model& model, int threads) : model_(model), state_(model.config) {
  if (threads > 1) {
    pool_ = std::make_unique<ThreadPool>(threads);
    state_.pool = pool_.get();
  }
}

std::vector<int> Decoder::prompt_ids(const std::string& prompt) const {
  std::vector<int> text = model_.tokenizer.encode(prompt);
  if (text.empty()) throw Error("the prompt is empty: type some text to continue or translate");
  const ModelConfig& c = model_.config;
  std::vector<int> ids;
  if (c.arch == Arch::DecoderOnly && c.bos_id >= 0) ids.push_back(c.bos_id);
  ids.insert(ids.end(), text.begin(), text.end());
  if (c.arch == Arch::EncoderDecoder && c.eos_id >= 0) ids.push_back(c.eos_id);
  return ids;
}

DecodeResult Decoder::generate(const std::string& prompt, const DecodeOptions& options, const TokenCallback& on_token) {
  const Clock::time_point start = Clock::now();
  std::vector<int> ids = prompt_ids(prompt);
  const double tokenizer_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  DecodeResult r = generate_ids(std::move(ids), options, on_token);
  r.profile.tokenizer += tokenizer_seconds;
  r.seconds += tokenizer_seconds;
  return r;
}

DecodeResult Decoder::generate_ids(std::vector<int> ids, const DecodeOptions& o, const TokenCallback& on_token) {
  return run(std::move(ids), o, on_token, nullptr, 0);
}

int Decoder::shared_prefix(const DecodeResult& previous, const DecodeOptions& next) {
  if (next.temperature > 0.0f || next.policy != ExitPolicy::Calm || next.verify_draft > 0 ||
      next.kv_mode == KvMode::CatchUp || never_exits(static_cast<float>(next.lambda)))
    return 0;
  const int n = static_cast<int>(previous.trace.size());
  for (int t = 0; t < n; ++t) {
    const float best = previous.trace[t].best_below_exit;
    if (best >= next.threshold(t)) return t;
  }
  return n;
}

DecodeResult Decoder::resume(const DecodeResult& previous, int keep, const DecodeOptions& options,
                             const TokenCallback& on_token) {
  if (previous.run_id != run_id_ || run_id_ == 0)
    throw Error("resume: the previous result is not this decoder's latest run");
  if (keep > 0 && (options.temperature > 0.0f || options.verify_draft > 0))
    throw Error("resume: only greedy decoding without verify mode can keep tokens");
  if (keep < 0 || keep > static_cast<int>(previous.tokens.size()))
    throw Error("resume: cannot keep " + std::to_string(keep) + " of " + std::to_string(previous.tokens.size()) +
                " tokens");
  return run(previous.prompt_ids, options, on_token, &previous, keep);
}

DecodeResult Decoder::run(std::vector<int> ids, const DecodeOptions& o, const TokenCallback& on_token,
                          const DecodeResult* previous, int keep) {
  static std::atomic<uint64_t> next_run_id{1};
  const ModelConfig& c = model_.config;
  const int L = c.decoder_layers;
  check_options(model_, o);
  DecodeResult r;
  r.num_layers = L;
  r.run_id = run_id_ = next_run_id.fetch_add(1);
  r.tokens.reserve(o.max_new_tokens);  // nothing in the token loop allocates
  r.exit_layers.reserve(o.max_new_tokens);
  r.trace.reserve(o.max_new_tokens);
  fit_prompt(model_, state_.max_positions, o, ids, r);
  // The caches hold what this run needs (prompt, new tokens and one more row
  // for verify's correction), allocated now so the token loop does not.
  state_.reserve(std::min(state_.max_positions,
                          (c.arch == Arch::EncoderDecoder ? 0 : int(ids.size())) + o.max_new_tokens + 1));

  const Clock::time_point start = Clock::now();
  Laps laps;
  int next_input = 0;
  int position = 0;
  double carried_seconds = 0.0;  // of the prompt and the kept tokens, from `previous`
  if (previous) {  // the prompt's K/V and the kept tokens' are still in the cache
    position = c.arch == Arch::EncoderDecoder ? 0 : static_cast<int>(ids.size()) - 1;
    next_input = c.arch == Arch::EncoderDecoder ? c.decoder_start_id : ids.back();
    r.profile.prompt = previous->profile.prompt;
    carried_seconds = previous->profile.prompt;
  } else {
    position = run_prompt(model_, state_, ids, next_input);
    laps.lap(r.profile.prompt);
  }
  const CostModel cost(c, state_.source_length);
  for (int t = 0; t < keep; ++t, ++position) {
    TokenTrace token = previous->trace[t];
    token.threshold = o.threshold(t);
    r.flops += token.flops;
    r.full_flops += cost.layer(position + 1) * L + cost.vocabulary;
    carried_seconds += token.seconds;
    r.tokens.push_back(token.token);
    r.exit_layers.push_back(token.exit_layer);
    r.trace.push_back(std::move(token));
    next_input = r.tokens.back();
  }
  if (previous && keep == static_cast<int>(previous->tokens.size()) &&
      (previous->stopped_at_eos || keep >= o.max_new_tokens)) {  // nothing left to decode
    r.stopped_at_eos = previous->stopped_at_eos;
    finish(model_, start, r, laps);
    r.seconds += carried_seconds;
    return r;
  }
  if (o.verify_draft > 0) {
    verify_loop(model_, state_, o, ids, position, next_input, cost, on_token, r, laps);
    finish(model_, start, r, laps);
    return r;
  }

  std::mt19937_64 rng(o.seed);
  Work w(c, o, sequence_capacity(ids, o));
  w.repetition.reset(initial_sequence(model_, ids));
  for (int t = 0; t < keep; ++t) w.repetition.push(r.tokens[t]);
  const ExitDecision decision(model_, state_, o, cost);
  const bool analysis = o.trace || o.policy == ExitPolicy::Oracle;
  const std::unique_ptr<KvStrategy> kv = make_kv_strategy(o.kv_mode, analysis, model_, state_, cost, state_.capacity);
  const bool full_depth = analysis || kv->needs_full_depth();

  for (int t = keep; t < o.max_new_tokens; ++t, ++position) {
    const double flops_before = r.flops;
    const Clock::time_point token_start = Clock::now();
    TokenTrace token;
    token.position = t;
    token.threshold = decision.threshold(t);
    w.repetition.prepare();
    LayerRun run = walk_layers(model_, *kv, decision, token.threshold, t, position, next_input, cost, w, r, laps);
    token.exit_confidence = run.confidence;
    token.best_below_exit = run.best_below;
    int exit_layer = run.exit_layer;

    // The rest of the depth as the full model would see it here (the exact
    // cache, or the analysis' input); its K/V writes are replaced below
    // unless the cache is exact.
    if (full_depth) complete_depth(model_, state_, position, exit_layer, w);
    if (analysis) exit_layer = analyse(model_, o, cost, position, exit_layer, w, token, r);
    if (full_depth) laps.lap(r.profile.analysis);

    kv->after_exit(position, exit_layer, w, r, laps);

    // The token from the exit layer's prediction.
    if (o.policy == ExitPolicy::Oracle) {
      exit_prediction(model_, state_, w.layer_hidden[exit_layer], exit_layer, w);
      r.flops += cost.vocabulary;
      laps.lap(r.profile.vocabulary);
    } else {
      run.exit_layer = exit_layer;
      emitted_logits(model_, state_, run, w, cost, r, laps);
    }
    if (o.policy == ExitPolicy::Oracle || o.policy == ExitPolicy::Static) token.exit_confidence = kNotMeasured;
    token.token = sample(w.logits, o, rng, w.scratch);
    token.exit_layer = exit_layer;
    r.full_flops += cost.layer(position + 1) * L + cost.vocabulary;
    laps.lap(r.profile.sampling);
    token.flops = r.flops - flops_before;
    token.seconds = std::chrono::duration<double>(Clock::now() - token_start).count();
    if (!emit(model_, std::move(token), r, on_token, o.ignore_eos)) break;
    next_input = r.tokens.back();
    w.repetition.push(next_input);
  }
  finish(model_, start, r, laps);
  r.seconds += carried_seconds;
  return r;
}

std::vector<Matrix> Decoder::layer_logits(const std::vector<int>& encoder_ids, const std::vector<int>& decoder_ids,
                                          std::vector<Matrix>* layer_hidden) {
  const ModelConfig& c = model_.config;
  if (c.arch == Arch::EncoderDecoder) {
    encode(model_, state_, encoder_ids);
  } else if (!encoder_ids.empty()) {
    throw Error("layer_logits: a decoder-only model takes no encoder input");
  }
  const int n = static_cast<int>(decoder_ids.size());
  if (n > state_.max_positions) throw Error("layer_logits: sequence longer than the model's context");
  std::vector<Matrix> out(c.decoder_layers, Matrix(n, c.vocab_size));
  if (layer_hidden) layer_hidden->assign(c.decoder_layers, Matrix(n, c.d_model));
  Matrix hidden;
  embed_rows(model_, decoder_ids, hidden);
  std::vector<int> positions(n);
  for (int p = 0; p < n; ++p) positions[p] = p;
  Matrix normed;
  for (int l = 0; l < c.decoder_layers; ++l) {
    if (n > 0) decoder_layer_rows(model_, state_, l, positions, hidden);
    if (layer_hidden) (*layer_hidden)[l] = hidden;
    exit_logits_rows(model_, hidden, normed, out[l], state_.pool);
  }
  return out;
}

}  // namespace calm
