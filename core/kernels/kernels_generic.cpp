// The portable kernels: plain loops, the reference the SIMD ones must match
// (tests/test_kernels.cpp compares all of them with a double-precision product).
#include <cmath>
#include <cstring>

#include "kernels/kernels_isa.h"

namespace calm::kernels {
namespace {

template <class Element, class Widen>
void rows_float(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys,
                Widen widen) {
  const Element* base = static_cast<const Element*>(w.data);
  for (int64_t r = r0; r < r1; ++r) {
    const Element* row = base + r * w.stride;
    for (int64_t i = 0; i < a.n; ++i) {
      const float* x = a.x + i * w.cols;
      float sum = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) sum += widen(row[c]) * x[c];
      y[i * ys + r] = sum;
    }
  }
}

void rows_q8(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  const int8_t* base = static_cast<const int8_t*>(w.data);
  const int64_t blocks = w.stride / kQ8Block;
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* row = base + r * w.stride;
    const float* row_scale = w.scales + r * blocks;
    for (int64_t i = 0; i < a.n; ++i) {
      const int8_t* x = a.q + i * w.stride;
      const float* x_scale = a.q_scale + i * blocks;
      float sum = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        int32_t dot = 0;
        for (int k = 0; k < kQ8Block; ++k) dot += int32_t(row[b * kQ8Block + k]) * x[b * kQ8Block + k];
        sum += float(dot) * (row_scale[b] * x_scale[b]);
      }
      y[i * ys + r] = sum;
    }
  }
}

void rows(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  switch (w.type) {
    case WeightType::F32: rows_float<float>(w, a, r0, r1, y, ys, [](float v) { return v; }); break;
    case WeightType::F16: rows_float<uint16_t>(w, a, r0, r1, y, ys, half_to_float); break;
    case WeightType::BF16: rows_float<uint16_t>(w, a, r0, r1, y, ys, bfloat16_to_float); break;
    case WeightType::Q8: rows_q8(w, a, r0, r1, y, ys); break;
  }
}

}  // namespace

RowsKernel rows_generic() { return rows; }

void quantize_q8(const float* x, int64_t n, int64_t cols, int64_t stride, int8_t* q, float* scale) {
  const int64_t blocks = stride / kQ8Block;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * cols;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t begin = b * kQ8Block, end = std::min(begin + kQ8Block, cols);
      float max_abs = 0.0f;
      for (int64_t c = begin; c < end; ++c) max_abs = std::max(max_abs, std::fabs(row[c]));
      const float s = max_abs / 127.0f;
      const float inverse = s > 0.0f ? 1.0f / s : 0.0f;
      int8_t* out = q + i * stride + begin;
      for (int64_t c = begin; c < begin + kQ8Block; ++c)
        out[c - begin] = c < end ? int8_t(std::nearbyint(row[c] * inverse)) : int8_t(0);
      scale[i * blocks + b] = s;
    }
  }
}

}  // namespace calm::kernels
