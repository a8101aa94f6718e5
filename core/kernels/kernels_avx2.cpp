// AVX2 + FMA + F16C kernels (x86-64), compiled for those instructions whatever
// the rest of the build targets and chosen at run time when the CPU has them.
// Every standard header comes before the target pragma, and everything after
// it is file-local, so no AVX2 code can leak into a shared inline function.
#include <cstdint>
#include <cstring>

#include "kernels/kernels_isa.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace calm::kernels {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight weights widened to float, and one weight for the ragged end.
struct LoadF32 {
  static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
  static float load1(const float* p) { return *p; }
};
struct LoadF16 {
  static __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float load1(const uint16_t* p) { return half_to_float(*p); }
};
struct LoadBF16 {
  static __m256 load8(const uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float load1(const uint16_t* p) { return bfloat16_to_float(*p); }
};

// The hardware prefetcher stops at every 4 KB page boundary: ask for the
// bytes a page ahead (measured on the 1.1B shape: without it one decode
// streamed 7 GB/s of a 20 GB/s memory).
constexpr int kPrefetchBytes = 4096;
inline void prefetch_ahead(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0);
}

// out[k * N + j] = w_k . x_j for R weight rows (w_k = w + k * w_stride) and
// N activation rows (x_j = x + j * cols). Each weight is loaded and widened
// once and used for all N rows; two weight rows at a time share each
// activation load. U chunks of 8 are in flight per pair so that at least six
// independent FMA chains hide the FMA latency (with one row of each, four).
template <class Load, int R, int N, class Element>
inline void dot(const Element* w, int64_t w_stride, const float* x, int64_t cols, float* out) {
  constexpr int U = R * N >= 6 ? 1 : R * N >= 3 ? 2 : 4;
  constexpr int kStepBytes = 8 * U * int(sizeof(Element));
  __m256 acc[R][N][U];
  for (int k = 0; k < R; ++k)
    for (int j = 0; j < N; ++j)
      for (int u = 0; u < U; ++u) acc[k][j][u] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 * U <= cols; c += 8 * U) {
    // One prefetch per 64-byte line of each row, a page ahead.
    if (kStepBytes >= 64 || (c * int64_t(sizeof(Element))) % 64 < kStepBytes)
      for (int k = 0; k < R; ++k)
        for (int b = 0; b < kStepBytes; b += 64) prefetch_ahead(reinterpret_cast<const char*>(w + k * w_stride + c) + b);
    for (int u = 0; u < U; ++u) {
      __m256 wv[R];
      for (int k = 0; k < R; ++k) wv[k] = Load::load8(w + k * w_stride + c + 8 * u);
      for (int j = 0; j < N; ++j) {
        const __m256 xv = _mm256_loadu_ps(x + j * cols + c + 8 * u);
        for (int k = 0; k < R; ++k) acc[k][j][u] = _mm256_fmadd_ps(wv[k], xv, acc[k][j][u]);
      }
    }
  }
  for (; c + 8 <= cols; c += 8) {
    for (int k = 0; k < R; ++k) {
      const __m256 wv = Load::load8(w + k * w_stride + c);
      for (int j = 0; j < N; ++j) acc[k][j][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + j * cols + c), acc[k][j][0]);
    }
  }
  for (int k = 0; k < R; ++k)
    for (int j = 0; j < N; ++j) {
      for (int u = 1; u < U; ++u) acc[k][j][0] = _mm256_add_ps(acc[k][j][0], acc[k][j][u]);
      float sum = hsum(acc[k][j][0]);
      for (int64_t e = c; e < cols; ++e) sum += Load::load1(w + k * w_stride + e) * x[j * cols + e];
      out[k * N + j] = sum;
    }
}

// R weight rows from `row` against activation rows i.. i + left - 1 (left < 4).
template <class Load, int R, class Element>
inline void dot_ragged(const Element* row, int64_t w_stride, const float* x, int64_t cols, int64_t left,
                       float* out) {
  switch (left) {
    case 3: dot<Load, R, 3>(row, w_stride, x, cols, out); break;
    case 2: dot<Load, R, 2>(row, w_stride, x, cols, out); break;
    case 1: dot<Load, R, 1>(row, w_stride, x, cols, out); break;
    default: break;
  }
}

template <class Load, int R, class Element>
inline void rows_block(const Element* row, int64_t w_stride, const Activations& a, int64_t cols, int64_t r,
                       float* y, int64_t ys) {
  float out[R * 4];
  int64_t i = 0;
  for (; i + 4 <= a.n; i += 4) {
    dot<Load, R, 4>(row, w_stride, a.x + i * cols, cols, out);
    for (int k = 0; k < R; ++k)
      for (int j = 0; j < 4; ++j) y[(i + j) * ys + r + k] = out[k * 4 + j];
  }
  const int64_t left = a.n - i;
  dot_ragged<Load, R>(row, w_stride, a.x + i * cols, cols, left, out);
  for (int k = 0; k < R; ++k)
    for (int64_t j = 0; j < left; ++j) y[(i + j) * ys + r + k] = out[k * left + j];
}

template <class Load, class Element>
void rows_float(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  const Element* base = static_cast<const Element*>(w.data);
  int64_t r = r0;
  // One activation row (a decode step) is bound by memory: one weight row at
  // a time streams faster there (measured 10-15% on the 1.1B shape).
  if (a.n > 1)
    for (; r + 2 <= r1; r += 2) rows_block<Load, 2>(base + r * w.stride, w.stride, a, w.cols, r, y, ys);
  for (; r < r1; ++r) rows_block<Load, 1>(base + r * w.stride, w.stride, a, w.cols, r, y, ys);
}

// One block of 32 int8 products summed to 8 int32 lanes: |x| (unsigned) times
// w carrying x's sign, pairs added to int16 (at most 2 * 127 * 127, no
// saturation), then pairs of those to int32.
inline __m256 block_dot(__m256i w, __m256i x) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(w, x));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// R weight rows (w_k = w + k * stride, scales w_scale + k * blocks) against N
// quantised activation rows. |x| is taken once per block and row and shared
// by the R weight rows.
template <int R, int N>
inline void dot_q8(const int8_t* w, const float* w_scale, const int8_t* x, const float* x_scale, int64_t stride,
                   int64_t blocks, float* out) {
  __m256 acc[R][N];
  for (int k = 0; k < R; ++k)
    for (int j = 0; j < N; ++j) acc[k][j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    if (b % 2 == 0)
      for (int k = 0; k < R; ++k) prefetch_ahead(w + k * stride + b * kQ8Block);
    __m256i wv[R];
    for (int k = 0; k < R; ++k) wv[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k * stride + b * kQ8Block));
    for (int j = 0; j < N; ++j) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j * stride + b * kQ8Block));
      const __m256i x_abs = _mm256_sign_epi8(xv, xv);
      for (int k = 0; k < R; ++k) {
        const __m256i pairs = _mm256_maddubs_epi16(x_abs, _mm256_sign_epi8(wv[k], xv));
        const __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
        acc[k][j] = _mm256_fmadd_ps(_mm256_set1_ps(w_scale[k * blocks + b] * x_scale[j * blocks + b]), sum, acc[k][j]);
      }
    }
  }
  for (int k = 0; k < R; ++k)
    for (int j = 0; j < N; ++j) out[k * N + j] = hsum(acc[k][j]);
}

// One activation row: two blocks in flight.
inline float dot_q8_one(const int8_t* w, const float* w_scale, const int8_t* x, const float* x_scale,
                        int64_t blocks) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    prefetch_ahead(w + b * kQ8Block);
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + b * kQ8Block));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (b + 1) * kQ8Block));
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * kQ8Block));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + (b + 1) * kQ8Block));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(w_scale[b] * x_scale[b]), block_dot(w0, x0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(w_scale[b + 1] * x_scale[b + 1]), block_dot(w1, x1), acc1);
  }
  if (b < blocks) {
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + b * kQ8Block));
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * kQ8Block));
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(w_scale[b] * x_scale[b]), block_dot(w0, x0), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

template <int R>
inline void rows_q8_block(const int8_t* row, const float* row_scale, const Activations& a, int64_t stride,
                          int64_t blocks, int64_t r, float* y, int64_t ys) {
  float out[R * 4];
  int64_t i = 0;
  for (; i + 4 <= a.n; i += 4) {
    dot_q8<R, 4>(row, row_scale, a.q + i * stride, a.q_scale + i * blocks, stride, blocks, out);
    for (int k = 0; k < R; ++k)
      for (int j = 0; j < 4; ++j) y[(i + j) * ys + r + k] = out[k * 4 + j];
  }
  const int64_t left = a.n - i;
  const int8_t* xq = a.q + i * stride;
  const float* xs = a.q_scale + i * blocks;
  if (left == 3) dot_q8<R, 3>(row, row_scale, xq, xs, stride, blocks, out);
  if (left == 2) dot_q8<R, 2>(row, row_scale, xq, xs, stride, blocks, out);
  if (left == 1) dot_q8<R, 1>(row, row_scale, xq, xs, stride, blocks, out);
  for (int k = 0; k < R; ++k)
    for (int64_t j = 0; j < left; ++j) y[(i + j) * ys + r + k] = out[k * left + j];
}

void rows_q8(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  const int8_t* base = static_cast<const int8_t*>(w.data);
  const int64_t blocks = w.stride / kQ8Block;
  if (a.n == 1) {
    for (int64_t r = r0; r < r1; ++r) y[r] = dot_q8_one(base + r * w.stride, w.scales + r * blocks, a.q, a.q_scale, blocks);
    return;
  }
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2)
    rows_q8_block<2>(base + r * w.stride, w.scales + r * blocks, a, w.stride, blocks, r, y, ys);
  if (r < r1) rows_q8_block<1>(base + r * w.stride, w.scales + r * blocks, a, w.stride, blocks, r, y, ys);
}

void rows(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  switch (w.type) {
    case WeightType::F32: rows_float<LoadF32, float>(w, a, r0, r1, y, ys); break;
    case WeightType::F16: rows_float<LoadF16, uint16_t>(w, a, r0, r1, y, ys); break;
    case WeightType::BF16: rows_float<LoadBF16, uint16_t>(w, a, r0, r1, y, ys); break;
    case WeightType::Q8: rows_q8(w, a, r0, r1, y, ys); break;
  }
}

}  // namespace

RowsKernel rows_avx2() { return rows; }

}  // namespace calm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else
namespace calm::kernels {
RowsKernel rows_avx2() { return nullptr; }
}  // namespace calm::kernels
#endif
