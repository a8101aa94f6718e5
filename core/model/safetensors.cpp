// safetensors reading and writing. The header is untrusted input: every field
// is checked before any byte of the data section is touched, and every error
// names the file and the tensor so a user can tell which download is broken.
#include "safetensors.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_limits.h"

namespace calm {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian values; this reader copies them as they are");

namespace {

using json = nlohmann::json;

// A real header is a few hundred bytes per tensor; anything past this is a
// corrupt length field, and we refuse it before allocating.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
// 400,000 tensors' worth; the largest checkpoints have a few thousand.
constexpr size_t kMaxHeaderValues = size_t(4) << 20;

size_t dtype_size(DType dtype) { return dtype == DType::F32 ? 4 : 2; }

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string tensor_prefix(const std::string& path, const std::string& name) {
  return path + ": tensor '" + excerpt(name) + "'";
}

// Reads the header length, the header and the data section; the file is read
// exactly once.
struct RawFile {
  std::string header;
  std::vector<uint8_t> data;
};

RawFile read_raw(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": file missing");
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": not a regular file");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) throw Error(path + ": cannot open file (unreadable)");
  if (file_size < 8)
    throw Error(path + ": file is " + std::to_string(file_size) +
                " bytes, shorter than the 8-byte header length; not a safetensors file");

  uint8_t len_bytes[8];
  if (!in.read(reinterpret_cast<char*>(len_bytes), 8)) throw Error(path + ": read failed");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes)
    throw Error(path + ": header length " + std::to_string(header_len) +
                " bytes is absurd (limit " + std::to_string(kMaxHeaderBytes) + "); file is corrupt");
  if (header_len > file_size - 8)
    throw Error(path + ": header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(file_size) + " bytes); file is truncated");

  RawFile raw;
  raw.header.resize(header_len);
  in.read(raw.header.data(), static_cast<std::streamsize>(header_len));
  raw.data.resize(file_size - 8 - header_len);
  in.read(reinterpret_cast<char*>(raw.data.data()), static_cast<std::streamsize>(raw.data.size()));
  if (!in) throw Error(path + ": read failed");
  return raw;
}

DType parse_dtype(const json& entry, const std::string& where) {
  if (!entry.contains("dtype") || !entry["dtype"].is_string())
    throw Error(where + ": 'dtype' missing or not a string");
  const std::string d = entry["dtype"].get<std::string>();
  if (d == "F32") return DType::F32;
  if (d == "F16") return DType::F16;
  if (d == "BF16") return DType::BF16;
  throw Error(where + ": unsupported dtype '" + excerpt(d) + "' (supported: F32, F16, BF16)");
}

std::vector<int64_t> parse_shape(const json& entry, const std::string& where) {
  if (!entry.contains("shape") || !entry["shape"].is_array())
    throw Error(where + ": 'shape' missing or not an array");
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (const json& dim : entry["shape"]) {
    if (!dim.is_number_integer()) throw Error(where + ": shape " + json_excerpt(entry["shape"]) + " holds a non-integer");
    if (dim.is_number_unsigned() ? dim.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
                                 : dim.get<int64_t>() < 0)
      throw Error(where + ": shape " + json_excerpt(entry["shape"]) + " holds a negative or huge dimension");
    const int64_t d = dim.get<int64_t>();
    // The byte count (numel * 4 at most) must fit in 64 bits as well.
    if (__builtin_mul_overflow(numel, d, &numel) || numel > std::numeric_limits<int64_t>::max() / 4)
      throw Error(where + ": shape " + json_excerpt(entry["shape"]) + " overflows");
    shape.push_back(d);
  }
  return shape;
}

void parse_offsets(const json& entry, const std::string& where, TensorInfo& info, uint64_t data_size) {
  const json* off = entry.contains("data_offsets") ? &entry["data_offsets"] : nullptr;
  if (!off || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    throw Error(where + ": 'data_offsets' must be two non-negative integers, got " +
                (off ? json_excerpt(*off) : std::string("nothing")));
  info.begin = (*off)[0].get<uint64_t>();
  info.end = (*off)[1].get<uint64_t>();
  if (info.begin > info.end)
    throw Error(where + ": data_offsets begin " + std::to_string(info.begin) + " > end " + std::to_string(info.end));
  if (info.end > data_size)
    throw Error(where + ": data_offsets end " + std::to_string(info.end) + " is past the data section (" +
                std::to_string(data_size) + " bytes); file is truncated");
  const uint64_t expected = uint64_t(info.numel()) * dtype_size(info.dtype);
  if (info.end - info.begin != expected)
    throw Error(where + ": data_offsets span " + std::to_string(info.end - info.begin) + " bytes, but shape " +
                shape_string(info.shape) + " needs " + std::to_string(expected));
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensors::SafeTensors(const std::string& path) : path_(path) {
  RawFile raw = read_raw(path);

  // A real header nests three levels; printing a deeper one (metadata is kept
  // as text) would recurse once per level. It holds about ten values per
  // tensor; a parsed value takes up to a hundred bytes, so the count bounds
  // the memory parsing takes (100 MB of "[]," would take gigabytes).
  const JsonExtent extent = json_extent(raw.header, kMaxJsonDepth, kMaxHeaderValues);
  if (extent.depth > kMaxJsonDepth)
    throw Error(path + ": header nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                " levels; not a safetensors header");
  if (extent.values > kMaxHeaderValues)
    throw Error(path + ": header holds more than " + std::to_string(kMaxHeaderValues) +
                " JSON values (a real one holds about ten per tensor); file is corrupt");
  json header;
  try {
    header = json::parse(raw.header);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw Error(path + ": header is not valid JSON (" + excerpt(e.what(), 300) + ")");
  }
  if (!header.is_object()) throw Error(path + ": header is not a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(path + ": '__metadata__' is not an object");
      // The format says string -> string; keep anything else as its JSON text.
      for (const auto& [key, value] : entry.items())
        metadata_[key] = value.is_string() ? value.get<std::string>()
                                            : value.dump(-1, ' ', false, json::error_handler_t::replace);
      continue;
    }
    const std::string where = tensor_prefix(path, name);
    if (!entry.is_object()) throw Error(where + ": header entry is not an object");
    TensorInfo info;
    info.dtype = parse_dtype(entry, where);
    info.shape = parse_shape(entry, where);
    parse_offsets(entry, where, info, raw.data.size());
    tensors_[name] = std::move(info);
  }
  data_ = std::move(raw.data);
}

std::vector<float> SafeTensors::read_f32(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  const std::string where = tensor_prefix(path_, name);
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(where + " missing");
  const TensorInfo& info = it->second;
  if (!expected_shape.empty() && info.shape != expected_shape)
    throw Error(where + " has shape " + shape_string(info.shape) + ", expected " + shape_string(expected_shape));

  const size_t n = static_cast<size_t>(info.numel());
  const uint8_t* src = data_.data() + info.begin;
  std::vector<float> out(n);
  // memcpy per element: offsets need not be aligned.
  switch (info.dtype) {
    case DType::F32:
      if (n) std::memcpy(out.data(), src, n * 4);
      break;
    case DType::F16:
    case DType::BF16:
      for (size_t i = 0; i < n; i++) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = info.dtype == DType::F16 ? half_to_float(h) : bfloat16_to_float(h);
      }
      break;
  }
  // A single NaN poisons every later layer; say exactly where it is.
  for (size_t i = 0; i < n; i++)
    if (!std::isfinite(out[i]))
      throw Error(where + " holds " + (std::isnan(out[i]) ? "NaN" : "Inf") + " at flat index " + std::to_string(i));
  return out;
}

void write_safetensors_f32(const std::string& path,
                           const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const auto& [shape, values] = tensor;
    int64_t numel = 1;
    for (int64_t d : shape) {
      if (d < 0) throw Error(tensor_prefix(path, name) + ": negative dimension in shape " + shape_string(shape));
      numel *= d;
    }
    if (static_cast<size_t>(numel) != values.size())
      throw Error(tensor_prefix(path, name) + ": shape " + shape_string(shape) + " holds " + std::to_string(numel) +
                  " values, given " + std::to_string(values.size()));
    const uint64_t bytes = values.size() * 4;
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the
  // reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path + ": cannot open for writing");
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; i++) len_bytes[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len_bytes), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& [name, tensor] : tensors)
    out.write(reinterpret_cast<const char*>(tensor.second.data()),
              static_cast<std::streamsize>(tensor.second.size() * 4));
  if (!out.flush()) throw Error(path + ": write failed");
}

// IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float32 (a normal number there).
    const float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // Inf, or NaN keeping its payload
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);  // rebias the exponent
  }
  return std::bit_cast<float>(bits);
}

// bfloat16 is the top half of a float32, so widening is a shift.
float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

}  // namespace calm
