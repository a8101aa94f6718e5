#include "nn/run_state.h"

namespace calm {

RunState::RunState(const ModelConfig& c) : max_positions(c.max_positions) {
  const int layers = c.decoder_layers;
  key.assign(layers, Matrix::Zero(max_positions, c.kv_dim()));
  value.assign(layers, Matrix::Zero(max_positions, c.kv_dim()));
  if (c.arch == Arch::EncoderDecoder) {
    cross_key.assign(layers, Matrix::Zero(max_positions, c.kv_dim()));
    cross_value.assign(layers, Matrix::Zero(max_positions, c.kv_dim()));
    causal_bucket.resize(max_positions);
    for (int distance = 0; distance < max_positions; ++distance)
      causal_bucket[distance] = relative_position_bucket(-distance, /*bidirectional=*/false,
                                                         c.relative_buckets, c.relative_max_distance);
  } else {
    rotary.build(max_positions, c.head_dim, c.rope_theta, c.rope_scaling);
  }
  normed = Vector::Zero(c.d_model);
  query = Vector::Zero(c.q_dim());
  attention = Vector::Zero(c.q_dim());
  scores = Vector::Zero(max_positions);
  ff_gate = Vector::Zero(c.d_ff);
  ff_up = Vector::Zero(c.d_ff);
  logits = Vector::Zero(c.vocab_size);
  qkv = Vector::Zero(c.q_dim() + 2 * c.kv_dim());
  propagated = Vector::Zero(static_cast<Eigen::Index>(layers) * 2 * c.kv_dim());
}

}  // namespace calm
