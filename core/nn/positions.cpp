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

double RotaryTable::inverse_frequency(int i, int head_dim, float theta, const RopeScaling& scaling) {
  const double base = 1.0 / std::pow(static_cast<double>(theta), 2.0 * i / head_dim);
  switch (scaling.type) {
    case RopeScalingType::None:
    case RopeScalingType::Dynamic: return base;
    case RopeScalingType::Linear: return base / scaling.factor;
    case RopeScalingType::Llama3: {
      const double original = scaling.original_max_positions;
      const double wavelength = 2.0 * M_PI / base;
      if (wavelength > original / scaling.low_freq_factor) return base / scaling.factor;
      if (wavelength < original / scaling.high_freq_factor) return base;
      const double smooth =
          (original / wavelength - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor);
      return (1.0 - smooth) * base / scaling.factor + smooth * base;
    }
  }
  return base;
}

void RotaryTable::build(int max_positions, int head_dim, float theta, const RopeScaling& scaling) {
  half = head_dim / 2;
  cos.resize(max_positions, half);
  sin.resize(max_positions, half);
  for (int i = 0; i < half; ++i) {
    const double frequency = inverse_frequency(i, head_dim, theta, scaling);
    for (int p = 0; p < max_positions; ++p) {
      const double angle = static_cast<double>(p) * frequency;
      cos(p, i) = static_cast<float>(std::cos(angle));
      sin(p, i) = static_cast<float>(std::sin(angle));
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
