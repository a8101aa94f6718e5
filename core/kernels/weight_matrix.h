// A weight matrix kept as the checkpoint stores it (F32, F16, BF16) or in
// 8 bits, so that a real-size model needs no more memory than its file and a
// matrix-vector product streams as few bytes as possible. Arithmetic always
// accumulates in float32 (kernels/matvec.h).
//
// Layout: Hugging Face's (out_features, in_features), row-major, so y = W x
// reads one row per output. The bytes are owned by `storage`: copied once out
// of the memory-mapped safetensors file at load (see allocate_weight_bytes for
// why a copy and not a view of the mapping).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <Eigen/Core>

namespace calm {

class ThreadPool;

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

enum class WeightType { F32, F16, BF16, Q8 };

const char* weight_type_name(WeightType type);  // "f32", "f16", "bf16", "q8"

// 8-bit weights: blocks of kQ8Block consecutive weights of a row share one
// float scale, w = scale * q with q in [-127, 127] (the idea of llama.cpp's
// Q8_0). Rows are padded with zeros to a whole number of blocks.
inline constexpr int kQ8Block = 32;

struct WeightMatrix {
  WeightType type = WeightType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;     // (rows, stride) elements of `type`
  int64_t stride = 0;             // elements per row: cols, or cols padded to kQ8Block (Q8)
  const float* scales = nullptr;  // Q8 only: (rows, stride / kQ8Block)
  std::shared_ptr<const void> storage;  // keeps `data` alive

  bool empty() const { return rows == 0 || cols == 0; }
  int64_t size() const { return rows * cols; }
  // Bytes a product streams: the elements plus Q8's scales.
  int64_t bytes() const;

  // One row widened to float32 (cols values): the embedding lookup.
  void row_f32(int64_t row, float* out) const;
  // The whole matrix widened to float32; for tests and small matrices.
  Matrix to_dense() const;
};

// Owned, zeroed memory for weights. Large buffers are anonymous mappings
// asking for transparent huge pages. Measured on the TinyLlama-1.1B shape
// (calm bench --engine, one run): the same products stream at 95-100% of the
// memory's read bandwidth from such memory, but at 35-70% of it straight from
// the file's page-cache pages (4 KB pages scattered over physical memory:
// a TLB miss and a prefetcher stop every 4 KB), so weights are copied once at
// load rather than used in place.
std::shared_ptr<uint8_t> allocate_weight_bytes(size_t bytes);
// Asks the kernel to back the written bytes of allocate_weight_bytes, and the
// partial 2 MB ranges they share with neighbouring allocations, with huge
// pages (see the .cpp for why). Advice only.
void collapse_huge_pages(const void* data, size_t bytes);

// Takes ownership of a float32 matrix (fixtures, tests, derived matrices).
WeightMatrix weight_matrix_f32(const Matrix& m);
// Converts any matrix to `type` into owned storage (a plain copy for the same
// type; rounding to nearest even for F16/BF16, block-wise quantisation for
// Q8). The source may be mapped. Rows are split over `pool` when given.
WeightMatrix convert_weights(const WeightMatrix& source, WeightType type, ThreadPool* pool = nullptr);

// Bit conversions, exact for the widening direction.
float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);
uint16_t float_to_half(float f);      // round to nearest even; overflow gives Inf
uint16_t float_to_bfloat16(float f);  // round to nearest even

}  // namespace calm
