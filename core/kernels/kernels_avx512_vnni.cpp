// The Q8 kernel and the activation quantiser for CPUs with AVX-512 VNNI
// (F, BW, VL and VNNI), chosen at run time; without VNNI, Q8 runs the AVX2
// kernel.
//
// Why it is faster: one 64-byte vector holds two blocks, and one VPDPBUSD
// does all 64 multiplies and the sums into 16 int32 lanes (8 per block). The
// AVX2 kernel spends ten instructions on a single block (signs, two widening
// adds, a scalar scale product, a broadcast). VPDPBUSD multiplies unsigned by
// signed bytes, so the weights go in with 128 added (w XOR 0x80 = w + 128 as
// an unsigned byte) and the activations' sums pay it back:
//   sum (w + 128) x = sum w x + 128 sum x,
// the -128 sum x starting the accumulator, prepared once per call.
// Measured on the 1.1B shape's matrices, one thread (docs/performance.md).
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/kernels_isa.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's _mm512_reduce_* (see kernels_avx512.cpp)
#endif

namespace calm::kernels {
namespace {

// Two blocks per vector: lanes 0-7 belong to the first, 8-15 to the second.
constexpr int kPair = 2 * kQ8Block;
constexpr __mmask16 kHighHalf = 0xff00;

// Per activation row and pair of blocks, what every weight row reuses: the
// accumulator's start, -128 times the sum of the four activation bytes each
// lane multiplies (so that every lane ends with exactly its four products
// w x, small numbers that convert to float without loss, rather than one
// lane carrying the block's whole correction), and the two block scales
// spread over their lanes. Grown once per thread, never shrunk.
struct Prepared {
  std::vector<int32_t> start;  // (n, pairs, 16)
  std::vector<float> scale;    // (n, pairs, 16)
};

void prepare(const Activations& a, int64_t stride, int64_t blocks, Prepared& p) {
  const int64_t pairs = (blocks + 1) / 2;
  if (p.start.size() < size_t(a.n * pairs * 16)) {
    p.start.resize(size_t(a.n * pairs * 16));
    p.scale.resize(size_t(a.n * pairs * 16));
  }
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t j = 0; j < a.n; ++j)
    for (int64_t k = 0; k < pairs; ++k) {
      const int64_t b = 2 * k;
      const bool second = b + 1 < blocks;
      const __mmask64 bytes = second ? ~__mmask64(0) : __mmask64(0xffffffffu);
      const __m512i x = _mm512_maskz_loadu_epi8(bytes, a.q + j * stride + k * kPair);
      const __m512i group_sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x);
      _mm512_storeu_si512(p.start.data() + (j * pairs + k) * 16,
                          _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(group_sums, 7)));
      const float* scale = a.q_scale + j * blocks + b;
      const __m512 spread =
          _mm512_mask_blend_ps(kHighHalf, _mm512_set1_ps(scale[0]), _mm512_set1_ps(second ? scale[1] : 0.0f));
      _mm512_storeu_ps(p.scale.data() + (j * pairs + k) * 16, spread);
    }
}

// See kernels_avx2.cpp: the hardware prefetcher stops at every 4 KB page.
// 4, 8, 16 and 32 KB ahead measured within 2% of each other here (the 1.1B
// shape's matrices, one thread); the scales stream at 1/8 of the rate.
constexpr int kPrefetchBytes = 8192;

// One pair of blocks (k) of one weight row against N activation rows, into
// acc[j]; `whole` is false for a last pair holding one block.
template <int N>
inline void pair_step(const int8_t* w, const float* w_scale, const Activations& a, int64_t j0, int64_t stride,
                      const int32_t* start, const float* x_scale, int64_t pairs, int64_t k, bool whole,
                      __m512* acc) {
  const __mmask64 bytes = whole ? ~__mmask64(0) : __mmask64(0xffffffffu);
  _mm_prefetch(reinterpret_cast<const char*>(w + k * kPair) + kPrefetchBytes, _MM_HINT_T0);
  if (k % 8 == 0) _mm_prefetch(reinterpret_cast<const char*>(w_scale + 2 * k) + kPrefetchBytes / 8, _MM_HINT_T0);
  const __m512i wu = _mm512_xor_si512(_mm512_maskz_loadu_epi8(bytes, w + k * kPair), _mm512_set1_epi8(int8_t(0x80)));
  const __m512 lo = _mm512_set1_ps(w_scale[2 * k]);
  const __m512 ws = whole ? _mm512_mask_blend_ps(kHighHalf, lo, _mm512_set1_ps(w_scale[2 * k + 1])) : lo;
  for (int j = 0; j < N; ++j) {
    const __m512i xv = _mm512_maskz_loadu_epi8(bytes, a.q + (j0 + j) * stride + k * kPair);
    const __m512i d = _mm512_dpbusd_epi32(_mm512_loadu_si512(start + (j * pairs + k) * 16), wu, xv);
    const __m512 scale = _mm512_mul_ps(ws, _mm512_loadu_ps(x_scale + (j * pairs + k) * 16));
    acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), scale, acc[j]);
  }
}

// One weight row (its int8 blocks and their scales) against N activation
// rows; the weights are loaded, offset and scaled once for all N. Two pairs
// per pass into two accumulators, so that the adds of one do not wait for
// the other's.
template <int N>
inline void dot_rows(const int8_t* w, const float* w_scale, const Activations& a, int64_t j0, int64_t stride,
                     int64_t blocks, const int32_t* start, const float* x_scale, int64_t pairs, float* out) {
  __m512 acc0[N], acc1[N];
  for (int j = 0; j < N; ++j) acc0[j] = acc1[j] = _mm512_setzero_ps();
  const int64_t full = blocks / 2;  // pairs with both blocks
  int64_t k = 0;
  for (; k + 2 <= full; k += 2) {
    pair_step<N>(w, w_scale, a, j0, stride, start, x_scale, pairs, k, true, acc0);
    pair_step<N>(w, w_scale, a, j0, stride, start, x_scale, pairs, k + 1, true, acc1);
  }
  if (k < full) pair_step<N>(w, w_scale, a, j0, stride, start, x_scale, pairs, k++, true, acc0);
  if (k < pairs) pair_step<N>(w, w_scale, a, j0, stride, start, x_scale, pairs, k, false, acc1);
  for (int j = 0; j < N; ++j) out[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[j], acc1[j]));
}

void rows_q8(const WeightMatrix& w, const Activations& a, int64_t r0, int64_t r1, float* y, int64_t ys) {
  thread_local Prepared prepared;
  const int64_t blocks = w.stride / kQ8Block, pairs = (blocks + 1) / 2;
  prepare(a, w.stride, blocks, prepared);
  const int8_t* base = static_cast<const int8_t*>(w.data);
  for (int64_t r = r0; r < r1; ++r) {
    const int8_t* row = base + r * w.stride;
    const float* row_scale = w.scales + r * blocks;
    float out[4];
    int64_t j = 0;
    for (; j + 4 <= a.n; j += 4) {
      dot_rows<4>(row, row_scale, a, j, w.stride, blocks, prepared.start.data() + j * pairs * 16,
                  prepared.scale.data() + j * pairs * 16, pairs, out);
      for (int i = 0; i < 4; ++i) y[(j + i) * ys + r] = out[i];
    }
    const int32_t* start = prepared.start.data() + j * pairs * 16;
    const float* scale = prepared.scale.data() + j * pairs * 16;
    switch (a.n - j) {
      case 3: dot_rows<3>(row, row_scale, a, j, w.stride, blocks, start, scale, pairs, out); break;
      case 2: dot_rows<2>(row, row_scale, a, j, w.stride, blocks, start, scale, pairs, out); break;
      case 1: dot_rows<1>(row, row_scale, a, j, w.stride, blocks, start, scale, pairs, out); break;
      default: break;
    }
    for (int64_t i = 0; i < a.n - j; ++i) y[(j + i) * ys + r] = out[i];
  }
}

// The generic quantiser's arithmetic, sixteen floats at a time: the same
// scale (max |x| / 127), the same product by its inverse, the same rounding
// (to nearest even), so the bytes are identical.
void quantize(const float* x, int64_t n, int64_t cols, int64_t stride, int8_t* q, float* scale) {
  const int64_t blocks = stride / kQ8Block;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * cols;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t begin = b * kQ8Block;
      const int64_t left = cols - begin;
      const __mmask16 m0 = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
      const __mmask16 m1 = left >= 32 ? __mmask16(0xffff) : left <= 16 ? __mmask16(0) : __mmask16((1u << (left - 16)) - 1);
      const __m512 v0 = _mm512_maskz_loadu_ps(m0, row + begin);
      const __m512 v1 = _mm512_maskz_loadu_ps(m1, row + begin + 16);
      // abs_ps is AVX-512F; andnot_ps would need DQ, which the target list lacks.
      const float max_abs = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const float s = max_abs / 127.0f;
      const __m512 inverse = _mm512_set1_ps(s > 0.0f ? 1.0f / s : 0.0f);
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, inverse));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, inverse));
      int8_t* out = q + i * stride + begin;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm512_cvtepi32_epi8(q1));
      scale[i * blocks + b] = s;
    }
  }
}

}  // namespace

RowsKernel rows_q8_vnni() { return rows_q8; }
QuantizeKernel quantize_q8_vnni() { return quantize; }

}  // namespace calm::kernels

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else  // not x86-64

namespace calm::kernels {
RowsKernel rows_q8_vnni() { return nullptr; }
QuantizeKernel quantize_q8_vnni() { return nullptr; }
}  // namespace calm::kernels

#endif
