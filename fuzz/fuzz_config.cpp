// libFuzzer target: config.json parsing (load_config). Every input must parse
// into a consistent ModelConfig or be refused with calm::Error.
#include <cstdint>

#include "fuzz_input.h"
#include "model/config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = calm::fuzz::write_input("config", data, size);
  try {
    const calm::ModelConfig c = calm::load_config(path);
    // What the loader promises to the rest of the engine.
    if (c.vocab_size <= 0 || c.d_model <= 0 || c.num_heads <= 0 || c.num_kv_heads <= 0 || c.head_dim <= 0 ||
        c.d_ff <= 0 || c.decoder_layers <= 0 || c.max_positions <= 0)
      __builtin_trap();
    if (c.num_heads % c.num_kv_heads != 0) __builtin_trap();
    if (c.eos_id < 0 || c.eos_id >= c.vocab_size) __builtin_trap();
  } catch (const calm::Error&) {
  }
  return 0;
}
