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

// What float_rows.inc needs: eight floats a vector.
using Vec = __m256;
constexpr int kWidth = 8;
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline float vsum(Vec v) { return hsum(v); }

// Eight weights widened to float, and one weight for the ragged end.
struct LoadF32 {
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static float load1(const float* p) { return *p; }
};
struct LoadF16 {
  static __m256 load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float load1(const uint16_t* p) { return half_to_float(*p); }
};
struct LoadBF16 {
  static __m256 load(const uint16_t* p) {
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

#include "kernels/float_rows.inc"

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
