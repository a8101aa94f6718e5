#include "kernels/weight_matrix.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1; older kernels refuse it, which costs nothing
#endif
#endif

#include "kernels/kernels_isa.h"
#include "kernels/thread_pool.h"

namespace calm {

const char* weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::F32: return "f32";
    case WeightType::F16: return "f16";
    case WeightType::BF16: return "bf16";
    case WeightType::Q8: return "q8";
  }
  return "?";
}

namespace {
int64_t element_bytes(WeightType type) {
  switch (type) {
    case WeightType::F32: return 4;
    case WeightType::F16:
    case WeightType::BF16: return 2;
    case WeightType::Q8: return 1;
  }
  return 4;
}
}  // namespace

int64_t WeightMatrix::bytes() const {
  int64_t n = rows * stride * element_bytes(type);
  if (type == WeightType::Q8) n += rows * (stride / kQ8Block) * int64_t(sizeof(float));
  return n;
}

void WeightMatrix::row_f32(int64_t row, float* out) const {
  const uint8_t* base = static_cast<const uint8_t*>(data) + row * stride * element_bytes(type);
  switch (type) {
    case WeightType::F32:
      std::memcpy(out, base, size_t(cols) * 4);
      break;
    case WeightType::F16:
    case WeightType::BF16:
      for (int64_t c = 0; c < cols; ++c) {
        uint16_t h;
        std::memcpy(&h, base + 2 * c, 2);  // a mapped tensor need not be aligned
        out[c] = type == WeightType::F16 ? half_to_float(h) : bfloat16_to_float(h);
      }
      break;
    case WeightType::Q8: {
      const int8_t* q = reinterpret_cast<const int8_t*>(base);
      const float* s = scales + row * (stride / kQ8Block);
      for (int64_t c = 0; c < cols; ++c) out[c] = s[c / kQ8Block] * float(q[c]);
      break;
    }
  }
}

Matrix WeightMatrix::to_dense() const {
  Matrix m(rows, cols);
  for (int64_t r = 0; r < rows; ++r) row_f32(r, m.row(r).data());
  return m;
}

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
// Below this an ordinary allocation does as well (norms, fixtures).
constexpr size_t kMappedBytes = size_t(256) << 10;
}  // namespace

std::shared_ptr<uint8_t> allocate_weight_bytes(size_t bytes) {
#if defined(__linux__)
  if (bytes >= kMappedBytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: refused where huge pages are off
    return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [bytes](uint8_t* q) { ::munmap(q, bytes); });
  }
#endif
  return std::shared_ptr<uint8_t>(new uint8_t[bytes == 0 ? 1 : bytes](), std::default_delete<uint8_t[]>());
}

void collapse_huge_pages(const void* data, size_t bytes) {
#if defined(__linux__)
  if (bytes < kMappedBytes) return;
  // A fault gives a huge page only where a whole aligned 2 MB range lies in
  // the mapping, so each matrix's first and last partial 2 MB, and every
  // matrix smaller than that, stayed in 4 KB pages: 22% of the Q8 1.1B
  // shape's bytes, which then streamed at a fraction of the speed. The
  // mappings of consecutive matrices lie next to each other and merge, so
  // once a neighbour is written those ranges can be made huge pages here
  // (the part of the range that is not mapped, or not yet, is skipped).
  // Only the two partial ranges: the rest already faulted in as huge pages.
  const uintptr_t first = reinterpret_cast<uintptr_t>(data) / kHugePage * kHugePage;
  const uintptr_t last = (reinterpret_cast<uintptr_t>(data) + bytes - 1) / kHugePage * kHugePage;
  ::madvise(reinterpret_cast<void*>(first), kHugePage, MADV_COLLAPSE);
  if (last != first) ::madvise(reinterpret_cast<void*>(last), kHugePage, MADV_COLLAPSE);
#else
  (void)data;
  (void)bytes;
#endif
}

WeightMatrix weight_matrix_f32(const Matrix& m) {
  auto owned = std::make_shared<std::vector<float>>(m.data(), m.data() + m.size());
  WeightMatrix w;
  w.type = WeightType::F32;
  w.rows = m.rows();
  w.cols = m.cols();
  w.stride = m.cols();
  w.data = owned->data();
  w.storage = owned;
  return w;
}

WeightMatrix convert_weights(const WeightMatrix& source, WeightType type, ThreadPool* pool) {
  WeightMatrix w;
  w.type = type;
  w.rows = source.rows;
  w.cols = source.cols;
  w.stride = type == WeightType::Q8 ? (source.cols + kQ8Block - 1) / kQ8Block * kQ8Block : source.cols;
  const int64_t blocks = w.stride / kQ8Block;
  const size_t data_bytes = size_t(w.rows * w.stride * element_bytes(type));
  const size_t scale_offset = (data_bytes + 63) / 64 * 64;
  const size_t total = type == WeightType::Q8 ? scale_offset + size_t(w.rows * blocks) * sizeof(float) : data_bytes;
  std::shared_ptr<uint8_t> owned = allocate_weight_bytes(total);
  float* scales = type == WeightType::Q8 ? reinterpret_cast<float*>(owned.get() + scale_offset) : nullptr;
  const int64_t row_bytes = w.cols * element_bytes(type);
  // In chunks of rows over the pool: at load, the copy's page faults (fresh
  // memory is zeroed by the kernel) and the conversion are most of the time.
  const int64_t chunks = pool ? std::min<int64_t>(w.rows, pool->size() * 4) : 1;
  auto convert_chunk = [&](int chunk) {
    std::vector<float> row(size_t(source.cols));
    const int64_t begin = w.rows * chunk / chunks, end = w.rows * (chunk + 1) / chunks;
    for (int64_t r = begin; r < end; ++r) {
      uint8_t* out = owned.get() + r * w.stride * element_bytes(type);
      if (type == source.type && type != WeightType::Q8) {  // same type: the bytes as they are
        std::memcpy(out, static_cast<const uint8_t*>(source.data) + r * source.stride * element_bytes(type),
                    size_t(row_bytes));
        continue;
      }
      source.row_f32(r, row.data());
      switch (type) {
        case WeightType::F32:
          std::memcpy(out, row.data(), row.size() * 4);
          break;
        case WeightType::F16:
        case WeightType::BF16:
          for (int64_t c = 0; c < w.cols; ++c) {
            const uint16_t h = type == WeightType::F16 ? float_to_half(row[c]) : float_to_bfloat16(row[c]);
            std::memcpy(out + 2 * c, &h, 2);
          }
          break;
        case WeightType::Q8:
          kernels::quantize_q8(row.data(), 1, w.cols, w.stride, reinterpret_cast<int8_t*>(out), scales + r * blocks);
          break;
      }
    }
  };
  if (pool) pool->run(int(chunks), convert_chunk);
  else convert_chunk(0);
  collapse_huge_pages(owned.get(), total);
  w.data = owned.get();
  w.scales = scales;
  w.storage = std::move(owned);
  return w;
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

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN stays NaN
  if (magnitude >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // 65520 and up round to Inf
  if (magnitude < 0x38800000u) {
    // Below 2^-14: a subnormal half, mantissa = round(|f| * 2^24); scaling by a
    // power of two is exact, and nearbyint rounds to nearest even.
    const float scaled = std::bit_cast<float>(magnitude) * 16777216.0f;
    return uint16_t(sign | uint32_t(std::nearbyint(scaled)));
  }
  // Normal: rebias the exponent (127 -> 15) and round the mantissa from 23 to
  // 10 bits to nearest even; a carry correctly bumps the exponent.
  const uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  return uint16_t(sign | ((rounded - (112u << 23)) >> 13));
}

uint16_t float_to_bfloat16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace calm
