// Reader for the safetensors format: 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}}, then the raw tensor bytes.
// The file is memory-mapped (read into memory where it cannot be) and large
// tensors are copied out of it once (matrix()); every header field is
// validated before use.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/weight_matrix.h"

namespace calm {

enum class DType { F32, F16, BF16 };

struct TensorInfo {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
  int64_t numel() const;
};

class SafeTensors {
 public:
  // Throws calm::Error naming `path` for a missing, truncated or malformed file.
  explicit SafeTensors(const std::string& path);

  const std::string& path() const { return path_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor converted to float32, row-major. Throws calm::Error naming the
  // file and tensor when it is missing, its shape differs from `expected_shape`
  // (when given) or it holds NaN/Inf.
  std::vector<float> read_f32(const std::string& name,
                              const std::vector<int64_t>& expected_shape = {}) const;

  // A (rows, cols) tensor as a weight matrix of its own, in `type` or (unset)
  // its stored type; the same checks as read_f32. The tensor's pages of the
  // mapped file are let go once it is copied. The work is split over `pool`
  // when given.
  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols,
                      std::optional<WeightType> type = std::nullopt, ThreadPool* pool = nullptr) const;

 private:
  const TensorInfo& find(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  void check_finite(const std::string& name, const TensorInfo& info, ThreadPool* pool = nullptr) const;
  void release(const TensorInfo& info) const;

  std::string path_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::shared_ptr<const void> storage_;  // the mapping (or copy) of the whole file
  const uint8_t* data_ = nullptr;        // the data section, after the header
  bool mapped_ = false;                  // data_ lies in a file mapping (not a copy)
};

// Writes F32 tensors as a safetensors file (fixtures, tests, exports of traces).
void write_safetensors_f32(const std::string& path,
                           const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors);

}  // namespace calm
