// AVX-512 kernels for float weights (F32, F16, BF16), chosen at run time on
// CPUs that have AVX-512 F, BW and VL: sixteen weights per instruction.
// Several activation rows (prompt blocks, verification, catch-up) are bound
// by the multiply-adds, and twice the width brings K = 4 rows closer to the
// cost of one; one row decodes faster too (docs/performance.md). Q8 runs
// kernels_avx512_vnni.cpp where the CPU has VNNI, else the AVX2 kernel. The
// float kernels are float_rows.inc, shared with kernels_avx2.cpp.
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

// What float_rows.inc needs: sixteen floats a vector.
using Vec = __m512;
constexpr int kWidth = 16;
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline float vsum(Vec v) { return _mm512_reduce_add_ps(v); }

struct LoadF32 {
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static float load1(const float* p) { return *p; }
};
struct LoadF16 {
  static __m512 load(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static float load1(const uint16_t* p) { return half_to_float(*p); }
};
struct LoadBF16 {
  static __m512 load(const uint16_t* p) {
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

#include "kernels/float_rows.inc"

void rows(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  switch (w.type) {
    case WeightType::F32: rows_float<LoadF32, float>(w, a, r0, r1, y, ys); break;
    case WeightType::F16: rows_float<LoadF16, uint16_t>(w, a, r0, r1, y, ys); break;
    case WeightType::BF16: rows_float<LoadBF16, uint16_t>(w, a, r0, r1, y, ys); break;
    case WeightType::Q8: rows_avx2()(w, a, r0, r1, y, ys); break;
  }
}

void rows_vnni(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  if (w.type == WeightType::Q8) rows_q8_vnni()(w, a, r0, r1, y, ys);
  else rows(w, a, r0, r1, y, ys);
}

}  // namespace

RowsKernel rows_avx512() { return rows; }
RowsKernel rows_avx512_vnni() { return rows_vnni; }

}  // namespace calm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // not x86-64

namespace calm::kernels {
RowsKernel rows_avx512() { return nullptr; }
RowsKernel rows_avx512_vnni() { return nullptr; }
}  // namespace calm::kernels

#endif
