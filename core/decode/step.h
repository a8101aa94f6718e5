// The pieces the decoder's token loops share (decoder.cpp's and verify.cpp's),
// internal to core/decode: the working memory of one generate call, the
// profile's laps, and one position's walk up the decoder.
#pragma once

#include <chrono>
#include <limits>
#include <vector>

#include "decode/decoder.h"
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

  explicit Work(const ModelConfig& c)
      : hidden(c.d_model), logits(c.vocab_size), probabilities(c.vocab_size), scratch(c.vocab_size),
        layer_hidden(c.decoder_layers + 1, Vector::Zero(c.d_model)) {}
};

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

// The emitted token's logits into w.logits: reused from the exit check when it
// computed them at the exit layer.
void emitted_logits(const Model& model, RunState& state, const LayerRun& run, Work& w, const CostModel& cost,
                    DecodeResult& r, Laps& laps);

// Delivers one token to the result and the callback; false when decoding ends
// (end of sequence, or the callback asked to stop).
// With `ignore_eos` (benchmarks) an end-of-sequence token does not end the run.
bool emit(const Model& model, TokenTrace&& token, DecodeResult& r, const TokenCallback& on_token,
          bool ignore_eos = false);

}  // namespace calm::decode
