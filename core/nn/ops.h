// Small numerical building blocks shared by the encoder, the decoder and the
// exits. Vectors are float32; nothing here allocates except where noted.
#pragma once

#include <utility>
#include <vector>

#include "model/weights.h"

namespace calm {

// RMS norm as T5 and Llama define it: x / sqrt(mean(x^2) + eps) * weight (no mean, no bias).
void rms_norm(const Eigen::Ref<const Vector>& x, const Vector& weight, float eps, Eigen::Ref<Vector> out);
// Row-wise RMS norm of a (rows, d_model) matrix.
void rms_norm_rows(const Matrix& x, const Vector& weight, float eps, Matrix& out);

// T5's "gelu_new": the tanh approximation of GELU.
float gelu_tanh(float x);
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// In-place softmax over the first n entries; returns nothing, never allocates.
void softmax(float* x, int n);

struct TopToken {
  int id;
  float probability;
};

// The k most probable tokens of a probability vector, most probable first.
std::vector<TopToken> top_k(const Vector& probabilities, int k);

int argmax(const Vector& x);

}  // namespace calm
