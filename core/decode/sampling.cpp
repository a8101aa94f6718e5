#include "decode/sampling.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "nn/ops.h"

namespace calm::decode {

int sample(const Vector& logits, const DecodeOptions& o, std::mt19937_64& rng, Vector& scratch) {
  if (o.temperature <= 0.0f) return argmax(logits);
  scratch = logits / o.temperature;
  if (o.top_k > 0 && o.top_k < scratch.size()) {
    Vector sorted = scratch;
    std::nth_element(sorted.data(), sorted.data() + (o.top_k - 1), sorted.data() + sorted.size(), std::greater<float>());
    const float cutoff = sorted[o.top_k - 1];
    for (Eigen::Index i = 0; i < scratch.size(); ++i)
      if (scratch[i] < cutoff) scratch[i] = -std::numeric_limits<float>::infinity();
  }
  softmax(scratch.data(), static_cast<int>(scratch.size()));
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double r = uniform(rng), cumulative = 0.0;
  for (Eigen::Index i = 0; i < scratch.size(); ++i) {
    cumulative += scratch[i];
    if (r < cumulative) return static_cast<int>(i);
  }
  return argmax(scratch);
}

}  // namespace calm::decode
