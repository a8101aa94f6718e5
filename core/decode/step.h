// The pieces the decoder's token loops share (decoder.cpp's and verify.cpp's),
// internal to core/decode: the working memory of one generate call, the
// profile's laps, and one position's walk up the decoder.
#pragma once

#include <chrono>
#include <limits>
#include <vector>

#include "decode/decoder.h"
#include "decode/repetition.h"
#include "nn/forward.h"

namespace calm::decode {

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

// One generate call's working memory, allocated before the token loop.
struct Work {
  Vector hidden, logits, probabilities, scratch;
  std::vector<Vector> layer_hidden;  // (L + 1): index 0 the embedding, i the state after layer i
  Matrix trace_hidden, trace_normed, trace_logits;  // every layer's state and logits, for the analysis
  // The sequence so far (decode/repetition.h says which ids) and the
  // remedies it drives; the token loops keep it in step with the tokens.
  RepetitionProcessor repetition;

  // `capacity`: the longest sequence of the run (prompt and new tokens).
  Work(const ModelConfig& c, const ExitRule& rule, int capacity)
      : hidden(c.d_model), logits(c.vocab_size), probabilities(c.vocab_size), scratch(c.vocab_size),
        layer_hidden(c.decoder_layers + 1, Vector::Zero(c.d_model)), repetition(rule, c.vocab_size, capacity) {}
};

// The sequence the repetition remedies look at before the first new token:
// a decoder-only model's prompt ids, an encoder-decoder's decoder start token.
std::vector<int> initial_sequence(const Model& model, const std::vector<int>& prompt_ids);
// The longest that sequence gets in a run of `options`.
inline int sequence_capacity(const std::vector<int>& prompt_ids, const DecodeOptions& options) {
  return static_cast<int>(prompt_ids.size()) + options.max_new_tokens + 1;
}

// What the layers of one position decided.
struct LayerRun {
  int exit_layer = 0;    // 1-based
  int logits_layer = 0;  // the layer whose logits work.logits holds (0: none)
  float confidence = kNotMeasured;
  float best_below = kNotMeasured;  // highest confidence at a check that did not exit
};

class ExitDecision;
class KvStrategy;

// Runs one position up the decoder until `decision` says it leaves (or to
// the top), each layer through `kv` (catch-up batches earlier positions into
// it), charging FLOPs and time. w.layer_hidden holds the states it reached.
LayerRun walk_layers(const Model& model, KvStrategy& kv, const ExitDecision& decision, float threshold, int t,
                     int position, int input, const CostModel& cost, Work& w, DecodeResult& r, Laps& laps);

// The logits of the exit after `layer` (1-based) whose state is `hidden`, as
// the measure and the token choice see them, into w.logits: the vocabulary
// projection, refused when not finite (naming the layer: a confidence or a
// token from NaN is meaningless), then the repetition remedies.
void exit_prediction(const Model& model, RunState& state, const Vector& hidden, int layer, Work& w);

// The emitted token's logits into w.logits (exit_prediction): reused from the
// exit check when it computed them at the exit layer.
void emitted_logits(const Model& model, RunState& state, const LayerRun& run, Work& w, const CostModel& cost,
                    DecodeResult& r, Laps& laps);

// Delivers one token to the result and the callback; false when decoding ends
// (end of sequence, or the callback asked to stop).
// With `ignore_eos` (benchmarks) an end-of-sequence token does not end the run.
bool emit(const Model& model, TokenTrace&& token, DecodeResult& r, const TokenCallback& on_token,
          bool ignore_eos = false);

}  // namespace calm::decode
