// libFuzzer target: the safetensors reader. Every input must either load or
// be refused with calm::Error; any other exception, crash, leak or sanitizer
// report is a bug. Loaded tensors are read back in full (that is where the
// header's offsets and shapes meet the data), and no two share bytes.
#include <cstdint>

#include "fuzz_input.h"
#include "util/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = calm::fuzz::write_input("safetensors", data, size);
  try {
    const calm::SafeTensors file(path);
    // No two accepted tensors share a byte (checked pairwise, independently
    // of the reader's sort).
    for (const auto& [a, x] : file.tensors())
      for (const auto& [b, y] : file.tensors())
        if (a < b && x.begin < x.end && y.begin < y.end && x.begin < y.end && y.begin < x.end) __builtin_trap();
    for (const auto& [name, info] : file.tensors()) {
      try {
        const std::vector<float> values = file.read_f32(name);
        if (values.size() != static_cast<size_t>(info.numel())) __builtin_trap();
        file.read_f32(name, {1, 2, 3});  // a wrong expected shape must be refused, not trusted
      } catch (const calm::Error&) {
      }
    }
  } catch (const calm::Error&) {
  }
  return 0;
}
