// All parameters of a model, laid out as Hugging Face stores them. The large
// matrices (projections, feed-forward, embedding, head) stay in the stored
// type or 8 bits (kernels/weight_matrix.h), copied out of the file; the
// small vectors and tables (norms, position biases, classifier) are float32.
// One struct serves the T5 encoder, the T5 decoder and the Llama decoder;
// members a stack does not use stay empty.
#pragma once

#include <vector>

#include "kernels/weight_matrix.h"

namespace calm {

// Biases (float32, added after the product) are empty when the model has none:
// Llama's attention_bias gives all four, Qwen2 q/k/v only, T5 none.
struct AttentionWeights {
  WeightMatrix q;  // (q_dim, d_model)
  WeightMatrix k;  // (kv_dim, d_model)
  WeightMatrix v;  // (kv_dim, d_model)
  WeightMatrix o;  // (d_model, q_dim)
  Vector q_bias;   // (q_dim) or empty
  Vector k_bias;   // (kv_dim) or empty
  Vector v_bias;   // (kv_dim) or empty
  Vector o_bias;   // (d_model) or empty
};

struct FeedForwardWeights {
  WeightMatrix gate;  // (d_ff, d_model): T5 wi_0 / Llama gate_proj; empty for ReLU
  WeightMatrix up;    // (d_ff, d_model): T5 wi_1 (gated) or wi (ReLU) / Llama up_proj
  WeightMatrix down;  // (d_model, d_ff): T5 wo / Llama down_proj
  Vector gate_bias;   // (d_ff) or empty: Llama's mlp_bias
  Vector up_bias;     // (d_ff) or empty
  Vector down_bias;   // (d_model) or empty
};

struct LayerWeights {
  Vector self_attn_norm;        // (d_model)
  AttentionWeights self_attn;
  Vector cross_attn_norm;       // (d_model); T5 decoder only
  AttentionWeights cross_attn;  // T5 decoder only
  Vector ffn_norm;              // (d_model)
  FeedForwardWeights ffn;
};

struct Weights {
  WeightMatrix embedding;  // (vocab_size, d_model); T5 "shared", Llama "model.embed_tokens"
  WeightMatrix lm_head;    // (vocab_size, d_model); empty when tied to the embedding

  std::vector<LayerWeights> encoder;  // T5 only
  Vector encoder_norm;                // (d_model); T5 only
  Matrix encoder_relative_bias;       // (relative_buckets, num_heads); T5 only

  std::vector<LayerWeights> decoder;  // every layer is an exit
  Vector decoder_norm;                // (d_model); the final norm all exits share
  Matrix decoder_relative_bias;       // (relative_buckets, num_heads); T5 only

  Vector classifier;            // (d_model); empty when the checkpoint has no head
  float classifier_bias = 0.0f;

  // The vocabulary projection every exit shares.
  const WeightMatrix& output_projection() const { return lm_head.empty() ? embedding : lm_head; }
  // Bytes of the large matrices as held (stored type or 8 bits).
  int64_t matrix_bytes() const;
};

}  // namespace calm
