// Position schemes: T5's relative position buckets and Llama's rotary embedding.
#pragma once

#include <vector>

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

  void build(int max_positions, int head_dim, float theta);
  // Rotates every head of `x` (heads * head_dim values) in place for `position`.
  void apply(float* x, int heads, int position) const;
};

}  // namespace calm
