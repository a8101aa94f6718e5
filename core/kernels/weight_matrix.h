// A weight matrix kept as the checkpoint stores it (F32, F16, BF16) or in
// 8 bits, so that a real-size model needs no more memory than its file and a
// matrix-vector product streams as few bytes as possible. Arithmetic always
// accumulates in float32 (kernels/matvec.h).
//
// Layout: Hugging Face's (out_features, in_features), row-major, so y = W x
// reads one row per output. The bytes are either memory-mapped from the
// safetensors file (zero-copy) or owned by `storage`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <Eigen/Core>

namespace calm {

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
  std::shared_ptr<const void> storage;  // keeps `data` alive: an owned buffer or the file mapping

  bool empty() const { return rows == 0 || cols == 0; }
  int64_t size() const { return rows * cols; }
  // Bytes a product streams: the elements plus Q8's scales.
  int64_t bytes() const;

  // One row widened to float32 (cols values): the embedding lookup.
  void row_f32(int64_t row, float* out) const;
  // The whole matrix widened to float32; for tests and small matrices.
  Matrix to_dense() const;
};

// Takes ownership of a float32 matrix (fixtures, tests, derived matrices).
WeightMatrix weight_matrix_f32(const Matrix& m);
// Converts any matrix to `type` into owned storage (rounding to nearest even
// for F16/BF16, block-wise quantisation for Q8). The source may be mapped.
WeightMatrix convert_weights(const WeightMatrix& source, WeightType type);

// Bit conversions, exact for the widening direction.
float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);
uint16_t float_to_half(float f);      // round to nearest even; overflow gives Inf
uint16_t float_to_bfloat16(float f);  // round to nearest even

}  // namespace calm
