// Reader for the safetensors format: 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}}, then the raw tensor bytes.
// The file is read once into memory; every header field is validated before use.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

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

 private:
  std::string path_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::vector<uint8_t> data_;  // the data section, after the header
};

// Writes F32 tensors as a safetensors file (fixtures, tests, exports of traces).
void write_safetensors_f32(const std::string& path,
                           const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors);

float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);

}  // namespace calm
