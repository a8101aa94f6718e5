// Internal to kernels/: the row-range kernel each instruction set provides.
#pragma once

#include <cstdint>

#include "kernels/weight_matrix.h"

namespace calm::kernels {

// n rows of activations, each w.cols floats (row-major). For Q8 weights also
// quantised like the weights: (n, w.stride) int8 and (n, w.stride / kQ8Block)
// scales, so that a block's dot product runs in integers.
struct Activations {
  const float* x = nullptr;
  int64_t n = 1;
  const int8_t* q = nullptr;
  const float* q_scale = nullptr;
};

// y[i * y_stride + r] = (row r of W) . (activation row i), for rows
// [row_begin, row_end) and every activation row i.
using RowsKernel = void (*)(const WeightMatrix& w, const Activations& a, int64_t row_begin, int64_t row_end,
                            float* y, int64_t y_stride);

RowsKernel rows_generic();
RowsKernel rows_avx2();    // null when not compiled for x86-64
RowsKernel rows_avx512();  // float weights; Q8 goes to rows_avx2
RowsKernel rows_avx512_vnni();  // rows_avx512 with Q8 on rows_q8_vnni
RowsKernel rows_q8_vnni();      // Q8 only; null when not compiled for x86-64

// Quantises n rows of `cols` floats into blocks of kQ8Block (rows padded to
// `stride` with zeros): scale = max|x| / 127, q = round(x / scale). Every
// version gives the same bytes.
using QuantizeKernel = void (*)(const float* x, int64_t n, int64_t cols, int64_t stride, int8_t* q, float* scale);
void quantize_q8(const float* x, int64_t n, int64_t cols, int64_t stride, int8_t* q, float* scale);
QuantizeKernel quantize_q8_vnni();  // AVX-512; null when not compiled for x86-64

}  // namespace calm::kernels
