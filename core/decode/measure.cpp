#include "decode/measure.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/error.h"

namespace calm {

Measure parse_measure(const std::string& name) {
  if (name == "softmax") return Measure::Softmax;
  if (name == "softmax-max") return Measure::SoftmaxMax;
  if (name == "state") return Measure::State;
  if (name == "classifier") return Measure::Classifier;
  throw Error("unknown confidence measure '" + name + "' (expected softmax, softmax-max, state or classifier)");
}

const char* measure_name(Measure measure) {
  switch (measure) {
    case Measure::Softmax: return "softmax";
    case Measure::SoftmaxMax: return "softmax-max";
    case Measure::State: return "state";
    case Measure::Classifier: return "classifier";
  }
  return "?";
}

float softmax_confidence(const Vector& p, Measure measure) {
  float first = -1.0f, second = -1.0f;
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    if (p[i] > first) {
      second = first;
      first = p[i];
    } else if (p[i] > second) {
      second = p[i];
    }
  }
  if (measure == Measure::SoftmaxMax) return first;
  return second < 0.0f ? first : first - second;
}

float softmax_confidence_from_logits(const Vector& logits, Measure measure) {
  float first = -std::numeric_limits<float>::infinity(), second = first;
  for (Eigen::Index i = 0; i < logits.size(); ++i) {
    const float x = logits[i];
    if (x > first) {
      second = first;
      first = x;
    } else if (x > second) {
      second = x;
    }
  }
  const float total = (logits.array() - first).exp().sum();
  if (measure == Measure::SoftmaxMax || logits.size() < 2) return 1.0f / total;
  return (1.0f - std::exp(second - first)) / total;
}

float cosine_similarity(const Vector& a, const Vector& b) {
  const float norms = a.norm() * b.norm();
  return norms > 0.0f ? a.dot(b) / norms : 0.0f;
}

float threshold_at(float lambda, float tau, int t, int max_new_tokens) {
  const float n = static_cast<float>(std::max(max_new_tokens, 1));
  const float value = 0.9f * lambda + 0.1f * std::exp(-tau * static_cast<float>(t) / n);
  return std::clamp(value, 0.0f, 1.0f);
}

}  // namespace calm
