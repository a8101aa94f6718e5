// Everything a decoding run writes, allocated once for a model and reused by
// every token: the K/V caches and the per-position scratch vectors. One
// RunState per thread; the Model itself is shared read-only.
#pragma once

#include <vector>

#include "model/model.h"
#include "nn/positions.h"

namespace calm {

struct RunState {
  int max_positions = 0;  // rows of every cache, from the config

  std::vector<Matrix> key;          // decoder_layers x (max_positions, kv_dim), self-attention
  std::vector<Matrix> value;        // decoder_layers x (max_positions, kv_dim)
  std::vector<Matrix> cross_key;    // decoder_layers x (max_positions, kv_dim); T5 only
  std::vector<Matrix> cross_value;  // decoder_layers x (max_positions, kv_dim); T5 only
  int source_length = 0;            // valid rows of cross_key / cross_value

  std::vector<int> causal_bucket;   // (max_positions): T5 bucket of distance query - key
  RotaryTable rotary;               // Llama only

  // Scratch for one position.
  Vector normed;     // (d_model)
  Vector query;      // (q_dim)
  Vector attention;  // (q_dim)
  Vector scores;     // (max_positions)
  Vector ff_gate;    // (d_ff)
  Vector ff_up;      // (d_ff)
  Vector logits;     // (vocab_size)
  Vector qkv;        // (q_dim + 2 kv_dim)
  Vector propagated; // (decoder_layers * 2 * kv_dim)

  explicit RunState(const ModelConfig& config);
};

}  // namespace calm
