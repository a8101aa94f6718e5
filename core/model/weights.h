// All parameters of a model in float32, laid out as Hugging Face stores them:
// a linear layer's matrix is (out_features, in_features), row-major, so a
// projection is `W * x`. One struct serves the T5 encoder, the T5 decoder and
// the Llama decoder; members a stack does not use stay empty (size 0).
#pragma once

#include <Eigen/Core>
#include <vector>

namespace calm {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

struct AttentionWeights {
  Matrix q;  // (q_dim, d_model)
  Matrix k;  // (kv_dim, d_model)
  Matrix v;  // (kv_dim, d_model)
  Matrix o;  // (d_model, q_dim)
};

struct FeedForwardWeights {
  Matrix gate;  // (d_ff, d_model): T5 wi_0 / Llama gate_proj; empty for ReLU
  Matrix up;    // (d_ff, d_model): T5 wi_1 (gated) or wi (ReLU) / Llama up_proj
  Matrix down;  // (d_model, d_ff): T5 wo / Llama down_proj
};

struct LayerWeights {
  Vector self_attn_norm;  // (d_model)
  AttentionWeights self_attn;
  Matrix self_qkv;        // (q_dim + 2 kv_dim, d_model): q, k, v stacked, one product per step (derived)
  Vector cross_attn_norm;  // (d_model); T5 decoder only
  AttentionWeights cross_attn;  // T5 decoder only
  Vector ffn_norm;  // (d_model)
  FeedForwardWeights ffn;
};

struct Weights {
  Matrix embedding;  // (vocab_size, d_model); T5 "shared", Llama "model.embed_tokens"
  Matrix lm_head;    // (vocab_size, d_model); empty when tied to the embedding

  std::vector<LayerWeights> encoder;  // T5 only
  Vector encoder_norm;                // (d_model); T5 only
  Matrix encoder_relative_bias;       // (relative_buckets, num_heads); T5 only

  std::vector<LayerWeights> decoder;  // every layer is an exit
  Vector decoder_norm;                // (d_model); the final norm all exits share
  Matrix decoder_relative_bias;       // (relative_buckets, num_heads); T5 only

  Vector classifier;            // (d_model); empty when the checkpoint has no head
  float classifier_bias = 0.0f;

  // Derived for state propagation: every decoder layer's [K; V] projection
  // with its input-norm weight folded in, stacked by layer, so that the K/V of
  // all layers above an exit come from one product with the exit state.
  Matrix propagation_kv;  // (decoder_layers * 2 * kv_dim, d_model)

  // The vocabulary projection every exit shares.
  const Matrix& output_projection() const { return lm_head.size() ? lm_head : embedding; }
};

// Fills the derived members (self_qkv, propagation_kv) from the loaded ones.
void derive_fused_weights(Weights& weights);

}  // namespace calm
