#include "nn/ops.h"

#include <algorithm>
#include <cmath>

namespace calm {

void rms_norm(const Eigen::Ref<const Vector>& x, const Vector& weight, float eps, Eigen::Ref<Vector> out) {
  const float mean_square = x.squaredNorm() / static_cast<float>(x.size());
  const float scale = 1.0f / std::sqrt(mean_square + eps);
  out = (x * scale).cwiseProduct(weight);
}

void rms_norm_rows(const Matrix& x, const Vector& weight, float eps, Matrix& out) {
  out.resize(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float mean_square = x.row(r).squaredNorm() / static_cast<float>(x.cols());
    const float scale = 1.0f / std::sqrt(mean_square + eps);
    out.row(r) = (x.row(r) * scale).cwiseProduct(weight.transpose());
  }
}

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

void softmax(float* x, int n) {
  if (n <= 0) return;
  Eigen::Map<Eigen::ArrayXf> a(x, n);
  a = (a - a.maxCoeff()).exp();  // Eigen's vectorised exp
  a *= 1.0f / a.sum();
}

std::vector<TopToken> top_k(const Vector& probabilities, int k) {
  const int n = static_cast<int>(probabilities.size());
  k = std::clamp(k, 0, n);
  std::vector<int> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = i;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int a, int b) {
    return probabilities[a] > probabilities[b] || (probabilities[a] == probabilities[b] && a < b);
  });
  std::vector<TopToken> top(k);
  for (int i = 0; i < k; ++i) top[i] = {ids[i], probabilities[ids[i]]};
  return top;
}

int argmax(const Vector& x) {
  Eigen::Index best = 0;
  x.maxCoeff(&best);
  return static_cast<int>(best);
}

}  // namespace calm
