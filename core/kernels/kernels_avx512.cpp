// AVX-512 kernels for float weights (F32, F16, BF16), chosen at run time on
// CPUs that have AVX-512 F, BW and VL: sixteen weights per instruction.
// Several activation rows (prompt blocks, verification, catch-up) are bound
// by the multiply-adds, and twice the width brings K = 4 rows closer to the
// cost of one; one row decodes faster too (docs/performance.md). Q8 keeps the
// AVX2 kernel: a VNNI version measured no faster (its per-block scales, not
// the integer products, are the work). The layout mirrors kernels_avx2.cpp.
#include <cstdint>
#include <cstring>

#include "kernels/kernels_isa.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
// GCC 12's _mm512_reduce_add_ps starts from _mm256_undefined_pd(), which it
// then reports as used uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace calm::kernels {
namespace {

struct LoadF32 {
  static __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
  static float load1(const float* p) { return *p; }
};
struct LoadF16 {
  static __m512 load16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static float load1(const uint16_t* p) { return half_to_float(*p); }
};
struct LoadBF16 {
  static __m512 load16(const uint16_t* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static float load1(const uint16_t* p) { return bfloat16_to_float(*p); }
};

// See kernels_avx2.cpp: the hardware prefetcher stops at every 4 KB page.
// Two pages ahead measured 15-20% faster than one for a single row here
// (AVX-512 consumes a page in fewer instructions).
constexpr int kPrefetchBytes = 8192;
inline void prefetch_ahead(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0);
}

// out[k * N + j] = w_k . x_j for R weight rows and N activation rows, as in
// kernels_avx2.cpp, sixteen columns at a time.
template <class Load, int R, int N, class Element>
inline void dot(const Element* w, int64_t w_stride, const float* x, int64_t cols, float* out) {
  constexpr int U = R * N >= 6 ? 1 : R * N >= 3 ? 2 : 4;
  constexpr int kStepBytes = 16 * U * int(sizeof(Element));
  __m512 acc[R][N][U];
  for (int k = 0; k < R; ++k)
    for (int j = 0; j < N; ++j)
      for (int u = 0; u < U; ++u) acc[k][j][u] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 * U <= cols; c += 16 * U) {
    if (kStepBytes >= 64 || (c * int64_t(sizeof(Element))) % 64 < kStepBytes)
      for (int k = 0; k < R; ++k)
        for (int b = 0; b < kStepBytes; b += 64) prefetch_ahead(reinterpret_cast<const char*>(w + k * w_stride + c) + b);
    for (int u = 0; u < U; ++u) {
      __m512 wv[R];
      for (int k = 0; k < R; ++k) wv[k] = Load::load16(w + k * w_stride + c + 16 * u);
      for (int j = 0; j < N; ++j) {
        const __m512 xv = _mm512_loadu_ps(x + j * cols + c + 16 * u);
        for (int k = 0; k < R; ++k) acc[k][j][u] = _mm512_fmadd_ps(wv[k], xv, acc[k][j][u]);
      }
    }
  }
  for (; c + 16 <= cols; c += 16) {
    for (int k = 0; k < R; ++k) {
      const __m512 wv = Load::load16(w + k * w_stride + c);
      for (int j = 0; j < N; ++j) acc[k][j][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + j * cols + c), acc[k][j][0]);
    }
  }
  for (int k = 0; k < R; ++k)
    for (int j = 0; j < N; ++j) {
      for (int u = 1; u < U; ++u) acc[k][j][0] = _mm512_add_ps(acc[k][j][0], acc[k][j][u]);
      float sum = _mm512_reduce_add_ps(acc[k][j][0]);
      for (int64_t e = c; e < cols; ++e) sum += Load::load1(w + k * w_stride + e) * x[j * cols + e];
      out[k * N + j] = sum;
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
  const float* x = a.x + i * cols;
  if (left == 3) dot<Load, R, 3>(row, w_stride, x, cols, out);
  if (left == 2) dot<Load, R, 2>(row, w_stride, x, cols, out);
  if (left == 1) dot<Load, R, 1>(row, w_stride, x, cols, out);
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

void rows(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  switch (w.type) {
    case WeightType::F32: rows_float<LoadF32, float>(w, a, r0, r1, y, ys); break;
    case WeightType::F16: rows_float<LoadF16, uint16_t>(w, a, r0, r1, y, ys); break;
    case WeightType::BF16: rows_float<LoadBF16, uint16_t>(w, a, r0, r1, y, ys); break;
    case WeightType::Q8: rows_avx2()(w, a, r0, r1, y, ys); break;
  }
}

}  // namespace

RowsKernel rows_avx512() { return rows; }

}  // namespace calm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // not x86-64

namespace calm::kernels {
RowsKernel rows_avx512() { return nullptr; }
}  // namespace calm::kernels

#endif
