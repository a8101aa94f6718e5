// Position schemes: T5's relative position buckets and Llama's rotary embedding.
#pragma once

#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace calm {

// Hugging Face's T5 _relative_position_bucket, for relative = key_pos - query_pos.
// Bidirectional (encoder) or causal (decoder); the float arithmetic follows the
// reference so that bucket boundaries agree exactly.
int relative_position_bucket(int relative, bool bidirectional, int num_buckets, int max_distance);

// cos/sin tables for rotary positions in the rotate_half convention:
// dimension i pairs with i + head_dim/2.
struct RotaryTable {
  int half = 0;
  Matrix cos;  // (max_positions, head_dim / 2)
  Matrix sin;  // (max_positions, head_dim / 2)

  // Frequencies theta^(-2i/head_dim), stretched as `scaling` says (Hugging
  // Face's rotary initialisers): linear divides them all by the factor; llama3
  // divides the low ones (wavelength past original/low_freq_factor), keeps the
  // high ones (wavelength under original/high_freq_factor) and blends between;
  // dynamic changes nothing up to max_position_embeddings, which bounds the
  // context here, so it changes nothing at all.
  void build(int max_positions, int head_dim, float theta, const RopeScaling& scaling = {});
  // The frequency of dimension pair i, as build() computes it.
  static double inverse_frequency(int i, int head_dim, float theta, const RopeScaling& scaling);
  // Rotates every head of `x` (heads * head_dim values) in place for `position`.
  void apply(float* x, int heads, int position) const;
};

}  // namespace calm
