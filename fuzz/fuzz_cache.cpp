// libFuzzer target: the calibration cache (CalibrationCache). A hand-built run
// of 3 examples over a 3-point grid, no model. The first byte picks how the
// rest becomes the file: odd, as it is (the checksums almost always fail, so
// this explores the header and checksum paths); even, as lines the target
// signs with the right checksums after a correct header (this explores the
// JSON and value checks behind them). Every input must load, skip lines or be
// refused with calm::Error; a loaded example must be whole.
#include <cstdint>
#include <fstream>
#include <sstream>

#include "calibrate/cache_file.h"
#include "fuzz_input.h"
#include "io/utf8.h"
#include "util/error.h"
#include "util/hash.h"

namespace {

calm::CalibrationRun small_run() {
  calm::CalibrationRun run;
  run.model_hash = "00000000000000aa";
  run.data_hash = "00000000000000bb";
  run.settings.max_new_tokens = 4;
  run.settings.grid = {1.0, 0.5, 0.0};
  run.examples.resize(3);
  run.outputs.assign(3, std::nullopt);
  return run;
}

std::string signed_file(const std::string& body, const calm::CalibrationRun& run) {
  const std::string header = calm::dump_json(calm::cache_header(run));
  const uint64_t seed = calm::fnv1a64(header);
  std::string file = calm::hash_hex(calm::fnv1a64(header, calm::fnv1a64(""))) + " " + header + "\n";
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) file += calm::hash_hex(calm::fnv1a64(line, seed)) + " " + line + "\n";
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  calm::CalibrationRun run = small_run();
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string content = data[0] % 2 ? body : signed_file(body, run);
  const std::string& path =
      calm::fuzz::write_input("cache", reinterpret_cast<const uint8_t*>(content.data()), content.size());
  try {
    const calm::CalibrationCache cache(path, run);
    size_t whole = 0;
    for (const auto& o : run.outputs) {
      if (!o) continue;
      ++whole;
      if (o->early.size() != 3 || o->layers.size() != 3 || o->seconds.size() != 3 || o->flops.size() != 3)
        __builtin_trap();
    }
    if (whole != cache.loaded()) __builtin_trap();
  } catch (const calm::Error&) {
  }
  return 0;
}
