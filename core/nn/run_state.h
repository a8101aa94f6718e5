// Everything a decoding run writes: the K/V caches and the per-position
// scratch vectors. One RunState per thread; the Model itself is shared
// read-only. The caches are sized by what a run needs (the prompt plus the new
// tokens, see reserve), never by the model's whole context: a config with
// 131,072 positions must not cost gigabytes for a 32-token answer.
#pragma once

#include <vector>

#include "kernels/matvec.h"
#include "model/model.h"
#include "nn/positions.h"

namespace calm {

class ThreadPool;

struct RunState {
  const ModelConfig* config = nullptr;
  int max_positions = 0;  // the model's context, from the config: reserve never goes past it
  int capacity = 0;       // rows allocated in the self-attention caches

  std::vector<Matrix> key;          // decoder_layers x (capacity, kv_dim), self-attention
  std::vector<Matrix> value;        // decoder_layers x (capacity, kv_dim)
  std::vector<Matrix> cross_key;    // decoder_layers x (>= source_length, kv_dim); T5 only
  std::vector<Matrix> cross_value;  // decoder_layers x (>= source_length, kv_dim); T5 only
  int source_length = 0;            // valid rows of cross_key / cross_value

  std::vector<int> causal_bucket;   // (capacity): T5 bucket of distance query - key
  RotaryTable rotary;               // (capacity) positions; Llama only

  // Scratch for one position.
  Vector normed;     // (d_model)
  Vector query;      // (q_dim)
  Vector attention;  // (q_dim)
  Vector projected;  // (d_model): an attention or feed-forward output before the residual add
  Vector scores;     // (max(capacity, source_length))
  Vector ff_gate;    // (d_ff)
  Vector ff_up;      // (d_ff)
  Vector logits;     // (vocab_size)
  Matrix propagation_input;       // (decoder_layers, d_model): the exit state normed for each skipped layer
  std::vector<MatVecTask> tasks;  // (2 decoder_layers): propagation's products

  // Splits every product over these threads; null runs on the caller alone.
  ThreadPool* pool = nullptr;

  explicit RunState(const ModelConfig& config);

  // Makes room for positions [0, positions) in the self-attention caches,
  // keeping what they hold; grows geometrically so that a run growing one
  // token at a time reallocates only a few times. Throws calm::Error past the
  // model's context.
  void reserve(int positions);
  // Makes room for a source of `length` positions in the cross-attention caches (T5).
  void reserve_source(int length);
};

}  // namespace calm
