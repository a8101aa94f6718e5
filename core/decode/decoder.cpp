#include "decode/decoder.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "util/error.h"
#include "nn/forward.h"

namespace calm {

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

constexpr float kNotMeasured = std::numeric_limits<float>::quiet_NaN();
using Clock = std::chrono::steady_clock;

// Charges the time since the previous lap to one bucket of the profile.
struct Laps {
  Clock::time_point last = Clock::now();
  void lap(double& bucket) {
    const Clock::time_point now = Clock::now();
    bucket += std::chrono::duration<double>(now - last).count();
    last = now;
  }
};

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
  if (o.temperature < 0.0f) throw Error("temperature must not be negative");
  if (o.verify_draft > 0) {
    if (o.temperature > 0.0f) throw Error("verify mode is greedy: it reproduces the full model's greedy output");
    if (o.trace) throw Error("verify mode records no per-layer trace");
  }
}

// The confidence of `measure` at one layer; `probabilities` must hold the
// layer's softmax when the measure needs it.
float confidence_at(const Model& model, Measure measure, int layer, const Vector& hidden, const Vector& previous,
                    const Vector& probabilities) {
  switch (measure) {
    case Measure::Softmax:
    case Measure::SoftmaxMax: return softmax_confidence(probabilities, measure);
    case Measure::State: return layer == 1 ? 0.0f : cosine_similarity(hidden, previous);  // undefined at layer 1
    case Measure::Classifier: return classifier_probability(model, hidden);
  }
  return 0.0f;
}

int sample(const Vector& logits, const DecodeOptions& o, std::mt19937_64& rng, Vector& scratch) {
  if (o.temperature <= 0.0f) return argmax(logits);
  scratch = logits / o.temperature;
  if (o.top_k > 0 && o.top_k < scratch.size()) {
    Vector sorted = scratch;
    std::nth_element(sorted.data(), sorted.data() + (o.top_k - 1), sorted.data() + sorted.size(), std::greater<float>());
    const float cutoff = sorted[o.top_k - 1];
    for (Eigen::Index i = 0; i < scratch.size(); ++i)
      if (scratch[i] < cutoff) scratch[i] = -std::numeric_limits<float>::infinity();
  }
  softmax(scratch.data(), static_cast<int>(scratch.size()));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double r = uniform(rng), cumulative = 0.0;
  for (Eigen::Index i = 0; i < scratch.size(); ++i) {
    cumulative += scratch[i];
    if (r < cumulative) return static_cast<int>(i);
  }
  return argmax(scratch);
}

// One generate call's working memory, allocated before the token loop.
struct Work {
  Vector hidden, logits, probabilities, scratch;
  std::vector<Vector> layer_hidden;  // (L + 1): index 0 the embedding, i the state after layer i
  // Catch-up: positions whose layers above `caught_up[position]` are not run yet.
  std::vector<int> pending;          // ascending positions
  std::vector<int> caught_up;        // (max_positions) layers done per pending position
  Matrix pending_hidden;             // (max_positions, d_model) state at caught_up
  std::vector<int> block_positions;
  std::vector<int> block_pending;    // indices into `pending` of the block's rows
  Matrix trace_hidden, trace_normed, trace_logits;  // every layer's state and logits, for the trace

  Work(const ModelConfig& c, int max_positions, bool catch_up)
      : hidden(c.d_model), logits(c.vocab_size), probabilities(c.vocab_size), scratch(c.vocab_size),
        layer_hidden(c.decoder_layers + 1, Vector::Zero(c.d_model)) {
    if (!catch_up) return;
    pending.reserve(max_positions);
    caught_up.assign(max_positions, 0);
    pending_hidden.resize(max_positions, c.d_model);
    block_positions.reserve(max_positions);
    block_pending.reserve(max_positions);
  }
};

// What the layers of one position decided.
struct LayerRun {
  int exit_layer = 0;    // 1-based
  int logits_layer = 0;  // the layer whose logits work.logits holds (0: none)
  float confidence = kNotMeasured;
  float best_below = kNotMeasured;  // highest confidence at a check that did not exit
};

// Runs one position up the decoder until the exit rule fires (or to the top),
// charging FLOPs and time. With catch-up, pending earlier positions that still
// lack a layer ride along in one block when this position runs that layer.
LayerRun run_layers(const Model& model, RunState& state, const DecodeOptions& o, bool calm_exits, float threshold,
                    int t, int position, int input, const CostModel& cost, Work& w, DecodeResult& r, Laps& laps) {
  const ModelConfig& c = model.config;
  const int L = c.decoder_layers;
  const bool gated = o.gate != Gate::None && measure_needs_logits(o.measure);
  const int static_exit = o.policy != ExitPolicy::Static ? 0
                          : t < static_cast<int>(o.exit_schedule.size()) ? o.exit_schedule[t]
                                                                          : o.static_layer;
  LayerRun run;
  run.exit_layer = L;
  embed(model, input, w.hidden);
  w.layer_hidden[0] = w.hidden;
  for (int i = 1; i <= L; ++i) {
    w.block_pending.clear();
    if (o.kv_mode == KvMode::CatchUp)
      for (size_t k = 0; k < w.pending.size(); ++k)
        if (w.caught_up[w.pending[k]] == i - 1) w.block_pending.push_back(static_cast<int>(k));
    if (w.block_pending.empty()) {
      decoder_layer(model, state, i - 1, position, w.hidden);
    } else {
      const int n = static_cast<int>(w.block_pending.size());
      Matrix block(n + 1, c.d_model);
      w.block_positions.clear();
      for (int k = 0; k < n; ++k) {
        const int p = w.pending[w.block_pending[k]];
        block.row(k) = w.pending_hidden.row(p);
        w.block_positions.push_back(p);
        r.flops += cost.layer(p + 1);
      }
      block.row(n) = w.hidden.transpose();
      w.block_positions.push_back(position);
      decoder_layer_rows(model, state, i - 1, w.block_positions, block);
      for (int k = 0; k < n; ++k) {
        const int p = w.pending[w.block_pending[k]];
        w.pending_hidden.row(p) = block.row(k);
        w.caught_up[p] = i;
      }
      w.hidden = block.row(n).transpose();
    }
    w.layer_hidden[i] = w.hidden;
    r.flops += cost.layer(position + 1);
    laps.lap(r.profile.layers);
    if (i == L) break;
    if (i == static_exit) {
      run.exit_layer = i;
      break;
    }
    if (!calm_exits || i < o.first_exit_layer || (i - o.first_exit_layer) % o.check_interval != 0) continue;
    if (gated) {  // the cheap test first: most layers stop here
      const Measure gate = o.gate == Gate::State ? Measure::State : Measure::Classifier;
      const float g = confidence_at(model, gate, i, w.hidden, w.layer_hidden[i - 1], w.probabilities);
      r.flops += o.gate == Gate::State ? cost.state : cost.classifier;
      laps.lap(r.profile.confidence);
      if (g < static_cast<float>(o.gate_threshold)) continue;
    }
    if (measure_needs_logits(o.measure)) {
      exit_logits(model, state, w.hidden, w.logits);
      r.flops += cost.vocabulary;
      run.logits_layer = i;
      laps.lap(r.profile.vocabulary);
      run.confidence = softmax_confidence_from_logits(w.logits, o.measure);
    } else {
      r.flops += o.measure == Measure::State ? cost.state : cost.classifier;
      run.confidence = confidence_at(model, o.measure, i, w.hidden, w.layer_hidden[i - 1], w.probabilities);
    }
    laps.lap(r.profile.confidence);
    if (run.confidence >= threshold) {
      run.exit_layer = i;
      break;
    }
    if (!(run.best_below >= run.confidence)) run.best_below = run.confidence;
  }
  if (o.kv_mode == KvMode::CatchUp) {
    // Positions now complete leave the queue; this one joins it if it exited.
    std::erase_if(w.pending, [&](int p) { return w.caught_up[p] == L; });
    if (run.exit_layer < L) {
      w.pending.push_back(position);
      w.caught_up[position] = run.exit_layer;
      w.pending_hidden.row(position) = w.layer_hidden[run.exit_layer].transpose();
    }
  }
  return run;
}

// The emitted token's logits: reused from the exit check when it computed them.
void emitted_logits(const Model& model, RunState& state, const LayerRun& run, const Work& w, Vector& logits,
                    const CostModel& cost, DecodeResult& r, Laps& laps) {
  if (run.logits_layer == run.exit_layer) return;
  exit_logits(model, state, w.layer_hidden[run.exit_layer], logits);
  r.flops += cost.vocabulary;
  laps.lap(r.profile.vocabulary);
}

// Fits `ids` into the context (or refuses), recording it in `result`.
void fit_prompt(const Model& model, int max_positions, const DecodeOptions& o, std::vector<int>& ids,
                DecodeResult& result) {
  const ModelConfig& c = model.config;
  const bool t5 = c.arch == Arch::EncoderDecoder;
  if (ids.empty()) throw Error("the prompt is empty: type some text to continue or translate");
  for (int id : ids)
    if (id < 0 || id >= c.vocab_size)
      throw Error("prompt token id " + std::to_string(id) + " is outside the vocabulary of " + model.dir);
  // T5 has separate input and output positions, Llama shares them.
  const int output_room = t5 ? max_positions : max_positions - o.max_new_tokens;
  if (o.max_new_tokens > max_positions || output_room < 1)
    throw Error("max new tokens " + std::to_string(o.max_new_tokens) + " exceeds the model's context of " +
                std::to_string(max_positions) + " positions");
  if (static_cast<int>(ids.size()) > output_room) {
    if (!o.truncate_prompt)
      throw Error("the prompt has " + std::to_string(ids.size()) + " tokens but only " + std::to_string(output_room) +
                  " fit in the model's context of " + std::to_string(max_positions) + " positions" +
                  (t5 ? "" : " with " + std::to_string(o.max_new_tokens) + " new tokens") +
                  "; shorten it or allow truncation");
    if (t5) {  // keep the beginning, end with eos
      ids.resize(output_room);
      if (c.eos_id >= 0) ids.back() = c.eos_id;
    } else {   // keep bos and the most recent text
      const int keep = output_room - (c.bos_id >= 0 ? 1 : 0);
      std::vector<int> kept;
      if (c.bos_id >= 0) kept.push_back(c.bos_id);
      kept.insert(kept.end(), ids.end() - keep, ids.end());
      ids = std::move(kept);
    }
    result.prompt_truncated = true;
  }
  result.prompt_ids = ids;
}

// Runs the prompt: T5 encodes it, Llama runs all but its last token through
// every layer in one block. Returns the first output position; `next_input`
// receives the first decoder input.
int run_prompt(const Model& model, RunState& state, const std::vector<int>& ids, int& next_input) {
  const ModelConfig& c = model.config;
  if (c.arch == Arch::EncoderDecoder) {
    encode(model, state, ids);
    next_input = c.decoder_start_id;
    return 0;
  }
  const int n = static_cast<int>(ids.size()) - 1;
  if (n > 0) {
    Matrix hidden(n, c.d_model);
    std::vector<int> positions(n);
    for (int p = 0; p < n; ++p) {
      hidden.row(p) = model.weights.embedding.row(ids[p]);
      positions[p] = p;
    }
    for (int l = 0; l < c.decoder_layers; ++l) decoder_layer_rows(model, state, l, positions, hidden);
  }
  next_input = ids.back();
  return n;
}

// Delivers one token to the result and the callback; false when decoding ends.
bool emit(const Model& model, TokenTrace&& token, DecodeResult& r, const TokenCallback& on_token) {
  r.tokens.push_back(token.token);
  r.exit_layers.push_back(token.exit_layer);
  const bool keep_going = !on_token || on_token(token);
  r.trace.push_back(std::move(token));
  if (model.config.is_eos(r.tokens.back())) {
    r.stopped_at_eos = true;
    return false;
  }
  if (!keep_going) {
    r.cancelled = true;
    return false;
  }
  return true;
}

void finish(const Model& model, Clock::time_point start, DecodeResult& r, Laps& laps) {
  r.text = model.tokenizer.decode(r.text_tokens());
  laps.lap(r.profile.tokenizer);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

// Verify mode: drafts of up to k tokens by the exit rule, each checked by one
// batched pass of the drafted positions through the layers above the lowest
// exit. Layers up to that exit were run for real for every drafted position
// (each one below its own exit), so they are exact; the pass makes the rest
// exact, and its top-layer predictions are the full model's.
void verify_loop(const Model& model, RunState& state, const DecodeOptions& o, int position, int next_input,
                 const CostModel& cost, const TokenCallback& on_token, DecodeResult& r, Laps& laps) {
  const ModelConfig& c = model.config;
  const int L = c.decoder_layers;
  const int k_max = o.verify_draft;
  const bool calm_exits = o.calm_exits();
  Work w(c, state.max_positions, false);
  std::vector<Matrix> drafted_hidden(k_max, Matrix(L + 1, c.d_model));
  std::vector<int> drafts(k_max), exits(k_max), full(k_max), positions;
  positions.reserve(k_max);
  Matrix block;
  int t = 0;
  while (t < o.max_new_tokens) {
    // Draft.
    const int k_limit = std::min(k_max, o.max_new_tokens - t);
    int k = 0;
    int input = next_input;
    while (k < k_limit) {
      const float threshold = calm_exits ? o.threshold(t + k) : 1.0f;
      const LayerRun run = run_layers(model, state, o, calm_exits, threshold, t + k, position + k, input, cost, w, r, laps);
      for (int i = 0; i <= run.exit_layer; ++i) drafted_hidden[k].row(i) = w.layer_hidden[i].transpose();
      if (run.exit_layer < L) {
        propagate_kv(model, state, run.exit_layer, position + k, w.layer_hidden[run.exit_layer]);
        r.flops += cost.propagation * (L - run.exit_layer);
        laps.lap(r.profile.propagation);
      }
      emitted_logits(model, state, run, w, w.logits, cost, r, laps);
      drafts[k] = argmax(w.logits);
      exits[k] = run.exit_layer;
      laps.lap(r.profile.sampling);
      input = drafts[k++];
      if (c.is_eos(input)) break;
    }
    // Verify: the drafted positions through the layers above the lowest exit.
    const int lowest = *std::min_element(exits.begin(), exits.begin() + k);
    if (lowest == L) {
      std::copy(drafts.begin(), drafts.begin() + k, full.begin());  // every draft ran the full depth exactly
    } else {
      block.resize(k, c.d_model);
      positions.clear();
      for (int j = 0; j < k; ++j) {
        block.row(j) = drafted_hidden[j].row(lowest);
        positions.push_back(position + j);
      }
      for (int l = lowest; l < L; ++l) decoder_layer_rows(model, state, l, positions, block);
      for (int j = 0; j < k; ++j) {
        w.hidden = block.row(j).transpose();
        exit_logits(model, state, w.hidden, w.logits);
        full[j] = argmax(w.logits);
        r.flops += cost.layer(position + j + 1) * (L - lowest) + cost.vocabulary;
      }
      ++r.verify_passes;
      laps.lap(r.profile.verification);
    }
    // Accept the agreeing prefix, then the full model's token at the first disagreement.
    int accepted = 0;
    while (accepted < k && drafts[accepted] == full[accepted]) ++accepted;
    r.drafted += k;
    r.accepted += accepted;
    const int emitted = std::min(k, accepted + 1);
    for (int j = 0; j < emitted; ++j, ++t) {
      TokenTrace token;
      token.position = t;
      token.threshold = calm_exits ? o.threshold(t) : 1.0f;
      token.exit_confidence = kNotMeasured;
      token.token = full[j];
      token.verified = j < accepted;
      token.exit_layer = token.verified ? exits[j] : L;
      if (!token.verified) token.rejected_drafts.assign(drafts.begin() + j, drafts.begin() + k);
      r.full_flops += cost.layer(position + j + 1) * L + cost.vocabulary;
      if (!emit(model, std::move(token), r, on_token)) return;
    }
    position += emitted;
    next_input = r.tokens.back();
  }
}

}  // namespace

Decoder::Decoder(const Model& model) : model_(model), state_(model.config) {}

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
    verify_loop(model_, state_, o, position, next_input, cost, on_token, r, laps);
    finish(model_, start, r, laps);
    return r;
  }

  std::mt19937_64 rng(o.seed);
  Work w(c, state_.max_positions, o.kv_mode == KvMode::CatchUp);
  const bool calm_exits = o.calm_exits();
  const bool run_all = o.trace || o.policy == ExitPolicy::Oracle || o.kv_mode == KvMode::Exact;
  const bool deferred = o.kv_mode == KvMode::CatchUp && !run_all;  // with run_all the cache is exact at once

  for (int t = keep; t < o.max_new_tokens; ++t, ++position) {
    const double flops_before = r.flops;
    const Clock::time_point token_start = Clock::now();
    TokenTrace token;
    token.position = t;
    token.threshold = calm_exits ? o.threshold(t) : 1.0f;
    DecodeOptions step = o;
    if (!deferred && o.kv_mode == KvMode::CatchUp) step.kv_mode = KvMode::Exact;
    LayerRun run = run_layers(model_, state_, step, calm_exits, token.threshold, t, position, next_input, cost, w, r, laps);
    token.exit_confidence = run.confidence;
    token.best_below_exit = run.best_below;
    int exit_layer = run.exit_layer;

    // Analysis: the rest of the depth as the full model would see it here.
    // Its K/V writes are replaced below unless the cache is exact.
    const int computed = exit_layer;
    if (run_all) {
      Vector deep = w.layer_hidden[computed];
      for (int i = computed + 1; i <= L; ++i) {
        decoder_layer(model_, state_, i - 1, position, deep);
        w.layer_hidden[i] = deep;
      }
    }
    if (o.trace || o.policy == ExitPolicy::Oracle) {
      token.confidence.assign(L, kNotMeasured);
      token.top.assign(L, {});
      std::vector<int> layer_argmax(L);
      w.trace_hidden.resize(L, c.d_model);
      for (int i = 1; i <= L; ++i) w.trace_hidden.row(i - 1) = w.layer_hidden[i].transpose();
      exit_logits_rows(model_, w.trace_hidden, w.trace_normed, w.trace_logits);  // all layers in one product
      for (int i = 1; i <= L; ++i) {
        w.scratch = w.trace_logits.row(i - 1).transpose();
        layer_argmax[i - 1] = argmax(w.scratch);
        if (!o.trace) continue;
        w.probabilities = w.scratch;
        softmax(w.probabilities.data(), c.vocab_size);
        if (o.measure != Measure::Classifier || c.has_classifier())
          token.confidence[i - 1] =
              confidence_at(model_, o.measure, i, w.layer_hidden[i], w.layer_hidden[i - 1], w.probabilities);
        token.top[i - 1] = top_k(w.probabilities, o.trace_top_k);
      }
      if (o.policy == ExitPolicy::Oracle) {
        exit_layer = L;
        for (int i = 1; i <= L; ++i)
          if (layer_argmax[i - 1] == layer_argmax[L - 1]) {
            exit_layer = i;
            break;
          }
        r.flops = r.flops - cost.layer(position + 1) * (computed - exit_layer);
      }
      if (!o.trace) token.confidence.clear(), token.top.clear();
    }
    if (run_all) laps.lap(r.profile.analysis);

    // The skipped layers' K/V for this position (catch-up queued them in run_layers).
    if (exit_layer < L) {
      if (o.kv_mode == KvMode::Propagate) {
        propagate_kv(model_, state_, exit_layer, position, w.layer_hidden[exit_layer]);
        r.flops += cost.propagation * (L - exit_layer);
        laps.lap(r.profile.propagation);
      } else if (!deferred) {
        r.flops += cost.layer(position + 1) * (L - exit_layer);
      }
    }

    // The token from the exit layer's prediction.
    if (o.policy == ExitPolicy::Oracle) {
      exit_logits(model_, state_, w.layer_hidden[exit_layer], w.logits);
      r.flops += cost.vocabulary;
      laps.lap(r.profile.vocabulary);
    } else {
      run.exit_layer = exit_layer;
      emitted_logits(model_, state_, run, w, w.logits, cost, r, laps);
    }
    if (o.policy == ExitPolicy::Oracle || o.policy == ExitPolicy::Static) token.exit_confidence = kNotMeasured;
    token.token = sample(w.logits, o, rng, w.scratch);
    token.exit_layer = exit_layer;
    r.full_flops += cost.layer(position + 1) * L + cost.vocabulary;
    laps.lap(r.profile.sampling);
    token.flops = r.flops - flops_before;
    token.seconds = std::chrono::duration<double>(Clock::now() - token_start).count();
    if (!emit(model_, std::move(token), r, on_token)) break;
    next_input = r.tokens.back();
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
  Matrix hidden(n, c.d_model);
  std::vector<int> positions(n);
  for (int p = 0; p < n; ++p) {
    hidden.row(p) = model_.weights.embedding.row(decoder_ids[p]);
    positions[p] = p;
  }
  Matrix normed;
  for (int l = 0; l < c.decoder_layers; ++l) {
    if (n > 0) decoder_layer_rows(model_, state_, l, positions, hidden);
    if (layer_hidden) (*layer_hidden)[l] = hidden;
    exit_logits_rows(model_, hidden, normed, out[l]);
  }
  return out;
}

}  // namespace calm
