#include "nn/positions.h"

#include <algorithm>
#include <cmath>

namespace calm {

int relative_position_bucket(int relative, bool bidirectional, int num_buckets, int max_distance) {
  int bucket = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (relative > 0) bucket += num_buckets;
    relative = std::abs(relative);
  } else {
    relative = -std::min(relative, 0);
  }
  const int max_exact = num_buckets / 2;
  if (relative < max_exact) return bucket + relative;
  // float32 as the reference computes it, truncated toward zero.
  const float log_ratio = std::log(static_cast<float>(relative) / static_cast<float>(max_exact)) /
                          static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  int large = max_exact + static_cast<int>(log_ratio * static_cast<float>(num_buckets - max_exact));
  large = std::min(large, num_buckets - 1);
  return bucket + large;
}

void RotaryTable::build(int max_positions, int head_dim, float theta) {
  half = head_dim / 2;
  cos.resize(max_positions, half);
  sin.resize(max_positions, half);
  for (int i = 0; i < half; ++i) {
    const float inverse_frequency =
        1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
    for (int p = 0; p < max_positions; ++p) {
      const float angle = static_cast<float>(p) * inverse_frequency;
      cos(p, i) = std::cos(angle);
      sin(p, i) = std::sin(angle);
    }
  }
}

void RotaryTable::apply(float* x, int heads, int position) const {
  const float* c = cos.row(position).data();
  const float* s = sin.row(position).data();
  for (int h = 0; h < heads; ++h) {
    float* head = x + h * 2 * half;
    for (int i = 0; i < half; ++i) {
      const float a = head[i];
      const float b = head[i + half];
      head[i] = a * c[i] - b * s[i];
      head[i + half] = b * c[i] + a * s[i];
    }
  }
}

}  // namespace calm
