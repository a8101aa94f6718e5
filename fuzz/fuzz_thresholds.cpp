// libFuzzer target: the thresholds-file reader (read_thresholds: size limit,
// JSON parsing, thresholds_from_json's validation). A file that is accepted
// must survive a write/read round trip unchanged in meaning.
#include <cstdint>

#include "calibrate/thresholds.h"
#include "fuzz_input.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = calm::fuzz::write_input("thresholds", data, size);
  calm::Thresholds t;
  try {
    t = calm::read_thresholds(path);
  } catch (const calm::Error&) {
    return 0;
  }
  // Accepted: what the writer makes of it must read back the same.
  const nlohmann::json again = nlohmann::json::parse(calm::thresholds_to_json(t).dump());
  calm::Thresholds u;
  try {
    u = calm::thresholds_from_json(again, "round trip");
  } catch (const calm::Error&) {
    __builtin_trap();
  }
  if (u.lambda != t.lambda || u.delta != t.delta || u.epsilon != t.epsilon || u.tau != t.tau ||
      u.model_hash != t.model_hash || u.examples != t.examples || u.max_new_tokens != t.max_new_tokens ||
      u.measure != t.measure || u.metric != t.metric || u.consistency != t.consistency || u.kv_mode != t.kv_mode ||
      u.gate != t.gate || (t.gate != calm::Gate::None && u.gate_threshold != t.gate_threshold) ||
      u.method != t.method || u.monotonicity.examples_broken != t.monotonicity.examples_broken ||
      u.monotonicity.pairs_broken != t.monotonicity.pairs_broken)
    __builtin_trap();
  return 0;
}
