// Products of a stored weight matrix with float32 activations, for every
// storage type, SIMD chosen at run time (AVX2+FMA+F16C, or portable C++),
// rows split over a ThreadPool when one is given.
//
// Every product reads each weight once: y = W x for one position, and for a
// few positions at once (prompt blocks, verification, catch-up) each weight
// row is applied to all of them while it is in cache, which is what makes
// verifying K drafted tokens cost little more than one.
#pragma once

#include <span>

#include "kernels/weight_matrix.h"

namespace calm {

class ThreadPool;

// y (w.rows) = W x (w.cols). `pool` may be null (single-threaded).
void matvec(const WeightMatrix& w, const float* x, float* y, ThreadPool* pool = nullptr);

// Y (n, w.rows) = X (n, w.cols) W^T; X and Y row-major with rows of w.cols
// and w.rows floats.
void matmul_rows(const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool = nullptr);

// Several independent products split over the pool together, so that small
// ones (q, k, v of one layer; the K/V of every skipped layer) keep every
// thread busy. Each task is y = W x, or with n > 1 rows, Y = X W^T.
struct MatVecTask {
  const WeightMatrix* w;
  const float* x;
  float* y;
  int64_t n = 1;
};
void matvec_batch(std::span<const MatVecTask> tasks, ThreadPool* pool = nullptr);

// Which instruction set the kernels run with on this CPU: "avx512", "avx2"
// or "generic". CALM_KERNELS=avx2 or =generic in the environment caps it (for
// tests and benchmarks of the narrower kernels).
const char* kernel_isa();

}  // namespace calm
