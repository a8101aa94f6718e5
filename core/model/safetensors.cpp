// safetensors reading and writing. The header is untrusted input: every field
// is checked before any byte of the data section is touched, and every error
// names the file and the tensor so a user can tell which download is broken.
#include "safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

#include "kernels/thread_pool.h"
#include "util/error.h"
#include "util/json_limits.h"
#include "io/output_file.h"

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

// The whole file, memory-mapped read-only (a copy in memory where mapping
// fails), and where its header and data section lie.
struct RawFile {
  std::shared_ptr<const void> storage;
  std::string header;
  const uint8_t* data = nullptr;
  uint64_t data_size = 0;
  bool mapped = false;
};

// The pages of [begin, end): those wholly inside it, or all that it touches.
std::pair<uintptr_t, uintptr_t> pages(const uint8_t* begin, const uint8_t* end, bool inside) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(begin), e = reinterpret_cast<uintptr_t>(end);
  if (inside) return {(b + page - 1) / page * page, e / page * page};
  return {b / page * page, (e + page - 1) / page * page};
}

// Unmaps the file when the SafeTensors that read it is gone.
struct Mapping {
  void* address = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (address) munmap(address, size);
  }
};

RawFile read_raw(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": file missing");
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open file (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(path + ": cannot read its size");
  }
  const uint64_t file_size = uint64_t(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw Error(path + ": file is " + std::to_string(file_size) +
                " bytes, shorter than the 8-byte header length; not a safetensors file");
  }
  auto mapping = std::make_shared<Mapping>();
  // Pages come in as tensors are read, and each tensor's pages are let go
  // once it is copied (SafeTensors::release), so a 13 GB file never sits in
  // the process whole beside its copy.
  mapping->address = ::mmap(nullptr, size_t(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const uint8_t* bytes = nullptr;
  std::shared_ptr<const void> storage;
  if (mapping->address == MAP_FAILED) {  // e.g. a file system without mmap: read it instead
    mapping->address = nullptr;
    auto copy = std::make_shared<std::vector<uint8_t>>(size_t(file_size));
    size_t done = 0;
    while (done < copy->size()) {
      const ssize_t got = ::read(fd, copy->data() + done, copy->size() - done);
      if (got <= 0) {
        ::close(fd);
        throw Error(path + ": read failed");
      }
      done += size_t(got);
    }
    bytes = copy->data();
    storage = copy;
  } else {
    mapping->size = size_t(file_size);
    bytes = static_cast<const uint8_t*>(mapping->address);
    storage = mapping;
  }
  ::close(fd);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes)
    throw Error(path + ": header length " + std::to_string(header_len) +
                " bytes is absurd (limit " + std::to_string(kMaxHeaderBytes) + "); file is corrupt");
  if (header_len > file_size - 8)
    throw Error(path + ": header length " + std::to_string(header_len) +
                " runs past the end of the file (" + std::to_string(file_size) + " bytes); file is truncated");

  RawFile raw;
  raw.mapped = mapping->address != nullptr;
  raw.storage = std::move(storage);
  raw.header.assign(reinterpret_cast<const char*>(bytes) + 8, size_t(header_len));
  raw.data = bytes + 8 + header_len;
  raw.data_size = file_size - 8 - header_len;
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

// Two tensors sharing bytes would change together: a file that says so is
// corrupt or crafted (the format forbids it). Empty tensors own no bytes.
void check_disjoint(const std::map<std::string, TensorInfo>& tensors, const std::string& path) {
  std::vector<std::pair<const std::string*, const TensorInfo*>> spans;
  for (const auto& [name, info] : tensors)
    if (info.end > info.begin) spans.emplace_back(&name, &info);
  std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    const auto& [before_name, before] = spans[i - 1];
    const auto& [name, info] = spans[i];
    if (info->begin < before->end)
      throw Error(tensor_prefix(path, *name) + ": data_offsets [" + std::to_string(info->begin) + ", " +
                  std::to_string(info->end) + ") overlap those of tensor '" + excerpt(*before_name) + "' [" +
                  std::to_string(before->begin) + ", " + std::to_string(before->end) +
                  "); each tensor must have bytes of its own");
  }
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
  // A JSON object may repeat a key, and the parser keeps the last value
  // silently: a second tensor of the same name would replace the first.
  std::set<std::string> names;
  std::string duplicate;
  const json::parser_callback_t note_names = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && duplicate.empty() &&
        !names.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(raw.header, note_names);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw Error(path + ": header is not valid JSON (" + excerpt(e.what(), 300) + ")");
  }
  if (!header.is_object()) throw Error(path + ": header is not a JSON object");
  if (!duplicate.empty())
    throw Error(tensor_prefix(path, duplicate) + " appears twice in the header; each name must be unique");

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
    parse_offsets(entry, where, info, raw.data_size);
    tensors_[name] = std::move(info);
  }
  check_disjoint(tensors_, path);
  storage_ = std::move(raw.storage);
  data_ = raw.data;
  mapped_ = raw.mapped;
}

const TensorInfo& SafeTensors::find(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(tensor_prefix(path_, name) + " missing");
  if (!expected_shape.empty() && it->second.shape != expected_shape)
    throw Error(tensor_prefix(path_, name) + " has shape " + shape_string(it->second.shape) + ", expected " +
                shape_string(expected_shape));
  return it->second;
}

namespace {

// The flat index of the first NaN or Inf (all exponent bits set), or -1. One
// branch-free pass first, since a real checkpoint has none and the scan runs
// over gigabytes.
template <class Bits>
int64_t first_non_finite(const uint8_t* bytes, int64_t n, Bits exponent_mask) {
  Bits any = 0;
  for (int64_t i = 0; i < n; ++i) {
    Bits v;
    std::memcpy(&v, bytes + i * int64_t(sizeof(Bits)), sizeof(Bits));
    any |= Bits((v & exponent_mask) == exponent_mask);
  }
  if (!any) return -1;
  for (int64_t i = 0; i < n; ++i) {
    Bits v;
    std::memcpy(&v, bytes + i * int64_t(sizeof(Bits)), sizeof(Bits));
    if ((v & exponent_mask) == exponent_mask) return i;
  }
  return -1;
}

}  // namespace

void SafeTensors::check_finite(const std::string& name, const TensorInfo& info, ThreadPool* pool) const {
  const uint8_t* src = data_ + info.begin;
  const int64_t n = info.numel();
  const bool wide = info.dtype == DType::F32;
  const uint16_t half_mask = info.dtype == DType::F16 ? 0x7c00 : 0x7f80;
  // Large tensors are scanned in chunks over the pool; the first bad value
  // is the one in the earliest chunk that has any.
  const int chunks = pool && n >= (int64_t(1) << 20) ? pool->size() * 4 : 1;
  std::vector<int64_t> first(size_t(chunks), -1);
  auto scan = [&](int chunk) {
    const int64_t begin = n * chunk / chunks, end = n * (chunk + 1) / chunks;
    const int64_t i = wide ? first_non_finite<uint32_t>(src + 4 * begin, end - begin, 0x7f800000u)
                           : first_non_finite<uint16_t>(src + 2 * begin, end - begin, half_mask);
    if (i >= 0) first[size_t(chunk)] = begin + i;
  };
  if (chunks > 1) pool->run(chunks, scan);
  else scan(0);
  const auto bad = std::find_if(first.begin(), first.end(), [](int64_t i) { return i >= 0; });
  if (bad == first.end()) return;
  float value = 0.0f;
  if (wide) {
    std::memcpy(&value, src + 4 * *bad, 4);
  } else {
    uint16_t h;
    std::memcpy(&h, src + 2 * *bad, 2);
    value = info.dtype == DType::F16 ? half_to_float(h) : bfloat16_to_float(h);
  }
  // A single NaN poisons every later layer; say exactly where it is.
  throw Error(tensor_prefix(path_, name) + " holds " + (std::isnan(value) ? "NaN" : "Inf") + " at flat index " +
              std::to_string(*bad));
}

std::vector<float> SafeTensors::read_f32(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  const TensorInfo& info = find(name, expected_shape);
  check_finite(name, info);
  const size_t n = static_cast<size_t>(info.numel());
  const uint8_t* src = data_ + info.begin;
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
  return out;
}

WeightMatrix SafeTensors::matrix(const std::string& name, int64_t rows, int64_t cols,
                                 std::optional<WeightType> type, ThreadPool* pool) const {
  const TensorInfo& info = find(name, {rows, cols});
  if (mapped_) {  // read the tensor's pages ahead in one go rather than fault by fault
    const auto [begin, end] = pages(data_ + info.begin, data_ + info.end, false);
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
  }
  check_finite(name, info, pool);
  WeightMatrix stored;
  stored.type = info.dtype == DType::F32 ? WeightType::F32 : info.dtype == DType::F16 ? WeightType::F16 : WeightType::BF16;
  stored.rows = rows;
  stored.cols = cols;
  stored.stride = cols;
  stored.data = data_ + info.begin;  // read with memcpy: need not be aligned
  WeightMatrix owned = convert_weights(stored, type.value_or(stored.type), pool);
  release(info);
  return owned;
}

void SafeTensors::release(const TensorInfo& info) const {
  if (!mapped_) return;
  // Only whole pages inside the tensor: a neighbour may still be unread.
  const auto [begin, end] = pages(data_ + info.begin, data_ + info.end, true);
  // The file is mapped read-only, so its pages are clean: dropping them loses
  // nothing (a later read would fault them back in from the page cache).
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
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

  std::string file;
  for (int i = 0; i < 8; i++) file.push_back(char(uint8_t(uint64_t(text.size()) >> (8 * i))));
  file += text;
  for (const auto& [name, tensor] : tensors)
    file.append(reinterpret_cast<const char*>(tensor.second.data()), tensor.second.size() * 4);
  write_output_file(path, file);
}

}  // namespace calm
