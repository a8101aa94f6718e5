// libFuzzer target: the JSONL reader of calibration and test sets. The first
// byte picks the options (bad-line policy, a small or the default line limit),
// the rest is the file. Every input must be read or refused with calm::Error.
#include <cstdint>

#include "calibrate/jsonl.h"
#include "fuzz_input.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  calm::JsonlOptions options;
  if (size > 0) {
    options.policy = (data[0] & 1) ? calm::BadLinePolicy::Skip : calm::BadLinePolicy::Stop;
    if (data[0] & 2) options.max_line_bytes = (data[0] >> 2) + 1;  // 1..64 bytes: exercise the limit
    ++data;
    --size;
  }
  const std::string& path = calm::fuzz::write_input("jsonl", data, size);
  try {
    const calm::JsonlResult r = calm::read_jsonl(path, options);
    size_t previous = 0;
    for (const auto& e : r.examples) {
      if (e.line <= previous || !e.extra.is_object()) __builtin_trap();  // lines ascend, extras are objects
      previous = e.line;
      if (e.input.size() > options.max_line_bytes) __builtin_trap();
    }
    if (options.policy == calm::BadLinePolicy::Stop && !r.problems.empty()) __builtin_trap();
  } catch (const calm::Error&) {
  }
  return 0;
}
