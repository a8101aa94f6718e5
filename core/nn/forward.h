// The transformer's forward pass, one piece per concern. The decoder runs one
// position through one layer at a time, so that the token loop in core/decode
// can stop after any layer; the T5 encoder runs a whole input at once.
#pragma once

#include <vector>

#include "model/model.h"
#include "nn/run_state.h"

namespace calm {

// T5: runs the encoder over `ids` and fills every decoder layer's cross-attention
// K/V. `encoder_output` (source_length, d_model), when given, receives the
// encoder's final normed states (for tests).
void encode(const Model& model, RunState& state, const std::vector<int>& ids, Matrix* encoder_output = nullptr);

// hidden (d_model) <- the token embedding of `token`.
void embed(const Model& model, int token, Vector& hidden);
// hidden (ids.size(), d_model) <- one embedding row per id.
void embed_rows(const Model& model, const std::vector<int>& ids, Matrix& hidden);

// Runs decoder layer `layer` (0-based) at `position` on `hidden` in place, and
// writes that layer's self-attention K/V for the position.
void decoder_layer(const Model& model, RunState& state, int layer, int position, Vector& hidden);

// The same for several positions at once, one row of `hidden` (n, d_model)
// each: matrix-matrix products instead of n matrix-vector ones. `positions`
// must ascend; row i attends to cached positions 0..positions[i], and every
// row's K/V is written before any row attends, so rows see earlier rows. The
// cache must already hold this layer's K/V for every earlier position not in
// the block. Serves the Llama prompt, verification of drafted tokens and the
// catch-up of exited tokens' deep layers.
void decoder_layer_rows(const Model& model, RunState& state, int layer, const std::vector<int>& positions,
                        Matrix& hidden);

// State propagation: writes the K/V of every layer from `first_layer` (0-based)
// to the top for `position`, each computed from the exit state `hidden` with
// that layer's own input norm and K/V projections, without running the layers.
// All of their products go to the thread pool together.
void propagate_kv(const Model& model, RunState& state, int first_layer, int position, const Vector& hidden);

// An exit's logits: the shared final norm and vocabulary projection
// (T5 with tied embeddings scales by d_model^-0.5 first, as T5 does).
void exit_logits(const Model& model, RunState& state, const Vector& hidden, Vector& logits);

// The same for every row of `hidden` (n, d_model) in one matrix-matrix
// product: logits (n, vocab). For the trace, which looks at every layer.
void exit_logits_rows(const Model& model, const Matrix& hidden, Matrix& normed, Matrix& logits,
                      ThreadPool* pool = nullptr);

// The early-exit classifier's probability on the raw (pre-norm) hidden state.
float classifier_probability(const Model& model, const Vector& hidden);

// Floating-point operations, counted as 2 per multiply-add.
struct CostModel {
  double layer_fixed = 0;       // projections and feed-forward of one decoder layer, one position
  double layer_per_context = 0; // attention per cached position (self-attention)
  double layer_cross = 0;       // cross-attention over the whole source (T5), per position
  double vocabulary = 0;        // one exit's logits
  double propagation = 0;       // one skipped layer's K/V from the copied state
  double classifier = 0;
  double state = 0;             // cosine of two hidden states

  CostModel(const ModelConfig& config, int source_length);
  double layer(int context) const { return layer_fixed + layer_per_context * context + layer_cross; }
};

}  // namespace calm
