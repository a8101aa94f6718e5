#include "nn/run_state.h"

#include <algorithm>

#include "util/error.h"

namespace calm {

namespace {
// Rows reserved before the first run says how many it needs.
constexpr int kInitialPositions = 64;
}  // namespace

RunState::RunState(const ModelConfig& c) : config(&c), max_positions(c.max_positions) {
  const int layers = c.decoder_layers;
  key.assign(layers, Matrix());
  value.assign(layers, Matrix());
  if (c.arch == Arch::EncoderDecoder) {
    cross_key.assign(layers, Matrix());
    cross_value.assign(layers, Matrix());
  }
  normed = Vector::Zero(c.d_model);
  query = Vector::Zero(c.q_dim());
  attention = Vector::Zero(c.q_dim());
  projected = Vector::Zero(c.d_model);
  ff_gate = Vector::Zero(c.d_ff);
  ff_up = Vector::Zero(c.d_ff);
  logits = Vector::Zero(c.vocab_size);
  propagation_input = Matrix::Zero(layers, c.d_model);
  tasks.reserve(static_cast<size_t>(2 * layers));
  reserve(std::min(kInitialPositions, max_positions));
}

void RunState::reserve(int positions) {
  if (positions <= capacity) return;
  if (positions > max_positions)
    throw Error("position " + std::to_string(positions - 1) + " is past the model's context of " +
                std::to_string(max_positions) + " positions");
  const int grown = std::min(max_positions, std::max(positions, capacity + capacity / 2));
  const ModelConfig& c = *config;
  for (size_t l = 0; l < key.size(); ++l) {
    key[l].conservativeResize(grown, c.kv_dim());
    value[l].conservativeResize(grown, c.kv_dim());
  }
  if (c.arch == Arch::EncoderDecoder) {
    causal_bucket.resize(grown);
    for (int distance = capacity; distance < grown; ++distance)
      causal_bucket[distance] = relative_position_bucket(-distance, /*bidirectional=*/false,
                                                         c.relative_buckets, c.relative_max_distance);
  } else {
    rotary.build(grown, c.head_dim, c.rope_theta, c.rope_scaling);
  }
  capacity = grown;
  if (scores.size() < capacity) scores.conservativeResize(capacity);
}

void RunState::reserve_source(int length) {
  const ModelConfig& c = *config;
  for (size_t l = 0; l < cross_key.size(); ++l) {
    if (cross_key[l].rows() >= length) continue;
    cross_key[l].resize(length, c.kv_dim());
    cross_value[l].resize(length, c.kv_dim());
  }
  if (scores.size() < length) scores.conservativeResize(length);
}

}  // namespace calm
